"""The local stack's guards, which need no Airflow process: busy ports, stopping twice, records left by a stack that
no longer runs, and the scripts' checks before anything starts (bad handoff settings, a bad --conf), each reported
on one line. Then what `make setup`, `make stack` and `make run` leave on a shared host: files private to their
owner whatever the umask, log servers on loopback (one real stack, started the way `make stack` starts it)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from airflow_model_handoff.local.ports import HOST, free_port, port_in_use

from scripts.processes import StartedProcess, processes_using
from scripts.stack import Stack, StackError, StackRecord
from tests.conftest import PROJECT

# A bad value of a setting the backend reads, and what the error line must say besides the variable's name.
BAD_SETTINGS = {
    "HANDOFF_FORMAT": ("pikle", "'pikle' is not a handoff format: choose from joblib, skops, json"),
    "HANDOFF_ALLOWED_FORMATS": ("json", "'joblib' is not in HANDOFF_ALLOWED_FORMATS"),
{%- if cookiecutter.storage_backend == "shared_fs" %}
    "HANDOFF_STORAGE": ("file:///no/such/handoff/root", "handoff root /no/such/handoff/root does not exist"),
{%- elif cookiecutter.storage_backend == "s3" %}
    "HANDOFF_STORAGE": ("s3://m/handoff", "'m' (HANDOFF_STORAGE's bucket) is not a bucket name"),
    "HANDOFF_S3_SSE": ("aes256", "'aes256' is not one of AES256, aws:kms"),
{%- else %}
    "HANDOFF_VARIABLES_MAX_BYTES": ("0", "'0' must be a positive integer"),
{%- endif %}
}
SHORT_KEY = "a-secret-of-20-bytes"


def test_a_busy_port_is_named_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = Stack(home=tmp_path / "home", state_dir=tmp_path / "state", api_port=port, log_port=free_port())
        with pytest.raises(StackError, match=f"port {port} is already in use"):
            stack.start()
    assert not stack.running()
    assert not (tmp_path / "state").exists(), "nothing may be started or written"


def test_a_port_left_in_time_wait_by_a_stopped_server_is_free() -> None:
    """A server that stopped leaves its closed connections in TIME-WAIT for about a minute; the next server binds the
    port regardless (SO_REUSEADDR), so `make run` right after `make run` must not call it busy."""
    server = socket.create_server((HOST, 0))
    port = server.getsockname()[1]
    client = socket.create_connection((HOST, port))
    accepted, _ = server.accept()
    accepted.close()  # the server's side closes first, so its end of the connection waits in TIME-WAIT
    client.recv(1)
    client.close()
    server.close()
    assert not port_in_use(port)


def test_stopping_a_stack_that_is_not_running_is_harmless(tmp_path: Path) -> None:
    stack = Stack(home=tmp_path / "home", state_dir=tmp_path / "state")
    assert stack.stop() == 0
    assert stack.stop() == 0


@pytest.fixture
def unrelated_process() -> Iterator[subprocess.Popen]:
    """A process the stack did not start, leading a session of its own as a stack's component does."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def test_a_record_whose_process_id_went_to_another_process_signals_nothing(
    tmp_path: Path, unrelated_process: subprocess.Popen
) -> None:
    """The record of a stack from before a restart, whose scheduler's id now belongs to another process."""
    stack = Stack(home=tmp_path / "home", state_dir=tmp_path / "state")
    stack.state_dir.mkdir()
    before_restart = psutil.Process(unrelated_process.pid).create_time() - 3600
    scheduler = StartedProcess(unrelated_process.pid, before_restart)
    StackRecord("0123456789abcdef", stack.url, {"scheduler": scheduler}).write(stack.state_path)
    assert not stack.running()
    assert stack.stop() == 0
    time.sleep(0.5)
    assert unrelated_process.poll() is None, "stop signalled a process the stack did not start"
    assert not stack.state_path.exists(), "the stale record must be cleared"


def test_a_component_that_cannot_start_stops_the_ones_started_before_it(tmp_path: Path) -> None:
    # The folder in its command line tells this test's process from any other.
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)", str(tmp_path)]
    stack = Stack(
        home=tmp_path / "home",
        state_dir=tmp_path / "state",
        components=("first", "second"),
        commands={"first": sleeper, "second": [str(tmp_path / "no-such-program")]},
    )
    with pytest.raises(FileNotFoundError):
        stack.start()
    assert processes_using(tmp_path) == [], "the component started first was left running"
    assert not stack.state_path.exists()


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """What the Makefile gives the scripts, for a stack of this test's own: state folder and free ports.

    The stack is stopped afterwards, should a script have started it.
    """
    state_dir = tmp_path / "state"
    ports = {name: str(free_port()) for name in ("API_PORT", "LOG_PORT", "TRIGGER_LOG_PORT", "S3_PORT")}
    yield {"STACK_DIR": str(state_dir), **ports}
    Stack(home=Path(os.environ["AIRFLOW_HOME"]), state_dir=state_dir).stop()


def script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m scripts....`` as the Makefile runs it (`make run`, `make stack`)."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=PROJECT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The script failed with a single `error: ...` line and nothing else on stderr (no traceback)."""
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def test_a_record_whose_processes_are_gone_is_reported_and_cleared(stack_env: dict[str, str]) -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    state_path = Path(stack_env["STACK_DIR"]) / "stack.json"
    state_path.parent.mkdir()
    StackRecord("0123456789abcdef", "http://127.0.0.1:8080", {"api-server": StartedProcess(exited.pid, 0.0)}).write(
        state_path
    )
    assert script(stack_env, "scripts.stack", "status").stdout == "not running\n"
    down = script(stack_env, "scripts.stack", "down")
    assert down.returncode == 0, down.stderr
    assert down.stdout == "no stack was running (cleared the record of one that no longer runs)\n"
    assert not state_path.exists()


@pytest.mark.parametrize("variable", BAD_SETTINGS)
def test_make_run_reports_a_bad_handoff_setting_in_one_line_before_airflow_starts(
    variable: str, stack_env: dict[str, str]
) -> None:
    value, expected = BAD_SETTINGS[variable]
    result = script({**stack_env, variable: value}, "scripts.run_dag", "train_and_score")
    line = one_error_line(result)
    assert variable in line and expected in line
    assert result.stdout == "", "nothing may start"
    assert not Path(stack_env["STACK_DIR"]).exists(), "no Airflow process may be started"


def test_make_stack_reports_a_bad_handoff_setting_in_one_line_before_airflow_starts(
    stack_env: dict[str, str],
) -> None:
    result = script({**stack_env, "HANDOFF_FORMAT": "pikle"}, "scripts.stack", "up")
    assert one_error_line(result) == (
        "error: HANDOFF_FORMAT='pikle': 'pikle' is not a handoff format: choose from joblib, skops, json"
    )
    assert result.stdout == ""
    assert not Path(stack_env["STACK_DIR"]).exists(), "no Airflow process may be started"


def test_a_short_signing_key_is_reported_without_showing_it(stack_env: dict[str, str]) -> None:
    result = script({**stack_env, "HANDOFF_SIGNING_KEY": SHORT_KEY}, "scripts.run_dag")
    line = one_error_line(result)
    assert "HANDOFF_SIGNING_KEY: key number 1 is shorter than 32 bytes" in line
    assert SHORT_KEY not in result.stdout + result.stderr, "a secret must never be printed"
    assert not Path(stack_env["STACK_DIR"]).exists()


@pytest.mark.parametrize(
    ("conf", "expected"),
    [('{"seed": 7', "--conf is not valid JSON"), ("[7]", "--conf must be a JSON object")],
)
def test_a_bad_conf_is_reported_in_one_line_before_airflow_starts(
    conf: str, expected: str, stack_env: dict[str, str]
) -> None:
    result = script(stack_env, "scripts.run_dag", "train_and_score", "--conf", conf)
    assert expected in one_error_line(result)
    assert not Path(stack_env["STACK_DIR"]).exists()


# -- what the local set-up leaves on a shared host -----------------------------------------------------------------

GROUP_OR_OTHER = 0o077  # no bit of these may be set on anything that holds a secret or the metadata
# The usual umask, and the worst: a mode left to the umask shows there as readable and writable by everyone (a
# superset of what 022 leaves), so the real stack runs under 000, and `make setup` under both.
USUAL_UMASK, OPEN_UMASK = 0o022, 0o000
{%- if cookiecutter.storage_backend == "shared_fs" %}
HANDOFF_DIR_MODE, HANDOFF_FILE_MODE = 0o750, 0o640  # the handoff root and what the library stores: the workers' group
{%- endif %}


def make_setup(home: Path, handoff_root: Path, umask: int) -> None:
    """`make setup` for an Airflow home (and handoff root) of the test's own, under ``umask``.

    The virtualenv is this one, already installed: make is told not to rebuild it.
    """
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    if not (PROJECT / ".venv" / "bin" / "airflow").exists():
        pytest.skip("the project has no .venv (make setup makes it)")
    variables = {"AIRFLOW_HOME": str(home)}
{%- if cookiecutter.storage_backend == "shared_fs" %}
    variables["HANDOFF_STORAGE"] = handoff_root.as_uri()
{%- endif %}
    env = {name: value for name, value in os.environ.items() if name != "HANDOFF_SIGNING_KEY"}  # a fresh machine's
    result = subprocess.run(
        ["make", "-o", ".venv/bin/.installed", "setup", *(f"{name}={value}" for name, value in variables.items())],
        cwd=PROJECT,
        env={**env, **variables},
        umask=umask,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def shared(*folders: Path) -> list[str]:
    """Everything under ``folders`` (themselves included) that its group or others may use, with its mode."""
    found = []
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:
                continue  # removed meanwhile by a running process (a SQLite journal, say)
            if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & GROUP_OR_OTHER:
                found.append(f"{stat.S_IMODE(mode):04o} {path}")
    return found


def setup_left_open(home: Path, handoff_root: Path) -> list[str]:
    """What `make setup` left wider than it should: anything in the Airflow home (the metadata DB, Airflow's config,
    the signing key) that its group or others may use.
{%- if cookiecutter.storage_backend == "shared_fs" %} And the handoff root, or the folder above it, other than
    0750: the workers' group's, as every folder the library makes under it.
{%- endif %}"""
    assert (home / "airflow.db").is_file(), "make setup made no metadata DB"
    found = shared(home)
{%- if cookiecutter.storage_backend == "shared_fs" %}
    for folder in (handoff_root.parent, handoff_root):
        if (mode := stat.S_IMODE(folder.stat().st_mode)) != HANDOFF_DIR_MODE:
            found.append(f"{mode:04o} {folder} (not {HANDOFF_DIR_MODE:04o})")
{%- endif %}
    return found


def test_make_setup_keeps_the_airflow_home_private_under_the_usual_umask(tmp_path: Path) -> None:
    home, root = tmp_path / "home", tmp_path / "data" / "models"
    make_setup(home, root, USUAL_UMASK)
    assert setup_left_open(home, root) == []


@dataclass(frozen=True)
class StackRun:
    """What a stack left after `make setup`, `make stack` and `make run` under a umask that hides nothing."""

    home: Path
    state_dir: Path
    handoff_root: Path
    log_ports: tuple[int, int]
    setup_left_open: list[str]  # right after `make setup`
    shared: list[str]  # after the run, taken while the stack still ran (its record is removed when it stops)
    listening: dict[int, set[str]]  # port: the addresses the stack's processes listen on


def listening(stack: Stack) -> dict[int, set[str]]:
    """Every port a process of ``stack`` listens on, with the addresses it is bound to."""
    record = stack.record()
    assert record is not None, "the stack is running: it has a record"
    ports: dict[int, set[str]] = {}
    for process in record.processes():
        try:
            # psutil 6 renamed connections() to net_connections()
            sockets = process.net_connections if hasattr(process, "net_connections") else process.connections
            connections = sockets(kind="inet")
        except psutil.NoSuchProcess:
            continue  # a task process that ended meanwhile
        except psutil.AccessDenied:
            pytest.skip("this system does not show a process's sockets (psutil: access denied)")
        for connection in connections:
            if connection.status == psutil.CONN_LISTEN:
                ports.setdefault(connection.laddr.port, set()).add(connection.laddr.ip)
    return ports


@pytest.fixture(scope="module")
def stack_run(tmp_path_factory: pytest.TempPathFactory{% if cookiecutter.storage_backend == "s3" %}, s3_endpoint: str{% endif %}) -> Iterator[StackRun]:
    """One real stack for the module: `make setup`, `make stack`, `make run` (the main DAG, its champion scored),
    all under umask 000, so any file whose mode the umask decides is readable and writable by everyone."""
    workdir = tmp_path_factory.mktemp("private-stack")
    home, state_dir, root = workdir / "home", workdir / "state", workdir / "data" / "models"
    make_setup(home, root, OPEN_UMASK)
    after_setup = setup_left_open(home, root)
    ports = {name: free_port() for name in ("API_PORT", "LOG_PORT", "TRIGGER_LOG_PORT", "S3_PORT")}
    env = {name: value for name, value in os.environ.items() if name != "HANDOFF_SIGNING_KEY"}
    env.update(
        {name: str(port) for name, port in ports.items()},
        AIRFLOW_HOME=str(home),
        STACK_DIR=str(state_dir),
{%- if cookiecutter.storage_backend == "shared_fs" %}
        HANDOFF_STORAGE=root.as_uri(),
{%- endif %}
    )
    stack = Stack(home=home, state_dir=state_dir, api_port=ports["API_PORT"])

    def run_script(*args: str) -> None:
        command = [sys.executable, "-m", *args]
        result = subprocess.run(
            command, cwd=PROJECT, env=env, umask=OPEN_UMASK, capture_output=True, text=True, timeout=600, check=False
        )
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}{result.stderr}"

    try:
        run_script("scripts.stack", "up")
        run_script("scripts.run_dag", "train_and_score")
        yield StackRun(
            home=home,
            state_dir=state_dir,
            handoff_root=root,
            log_ports=(ports["LOG_PORT"], ports["TRIGGER_LOG_PORT"]),
            setup_left_open=after_setup,
            shared=shared(home, state_dir),
            listening=listening(stack),
        )
    finally:
        try:
            run_script("scripts.stack", "down")
        finally:
            stack.stop()  # should the script have failed: nothing of this stack outlives the module


def test_make_setup_keeps_the_airflow_home_private_under_an_open_umask(stack_run: StackRun) -> None:
    assert stack_run.setup_left_open == []


def test_the_stack_and_a_run_keep_secrets_and_metadata_private(stack_run: StackRun) -> None:
    """The admin password (its file, the API server's log), the metadata DB, the task logs, the stack's logs and
    record: the owner's only, though the umask would let anyone read and write them."""
    for secret in (
        stack_run.home / "simple_auth_manager_passwords.json.generated",
        stack_run.home / "airflow.db",
        stack_run.state_dir / "api-server.log",
    ):
        assert secret.is_file(), f"{secret} was not written: the checks below would prove nothing"
    assert any((stack_run.home / "logs").rglob("attempt=1.log")), "the run wrote no task log"
    assert stack_run.shared == []
{%- if cookiecutter.storage_backend == "shared_fs" %}


def test_the_handoff_root_keeps_its_own_modes(stack_run: StackRun) -> None:
    """What the tasks stored is the workers' group's (0750 folders, 0640 files), whatever the stack's umask."""
    stored = [stack_run.handoff_root.parent, stack_run.handoff_root, *stack_run.handoff_root.rglob("*")]
    files = [path for path in stored if path.is_file()]
    assert files, "the run stored nothing"
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in stored}
    expected = {path: HANDOFF_FILE_MODE if path.is_file() else HANDOFF_DIR_MODE for path in stored}
    assert modes == expected
{%- endif %}


def test_the_stacks_log_servers_listen_on_loopback_only(stack_run: StackRun) -> None:
    """The scheduler's and the triggerer's log servers (and everything else of the stack): a loopback address, no
    other (no 0.0.0.0, no ::), so no other machine reaches them."""
    for port in stack_run.log_ports:
        assert port in stack_run.listening, f"nothing of the stack listens on log port {port}"
    reachable = {
        port: addresses
        for port, addresses in stack_run.listening.items()
        if not all(ipaddress.ip_address(address).is_loopback for address in addresses)
    }
    assert reachable == {}
