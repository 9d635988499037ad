"""The local stack's guards, which need no Airflow process: busy ports, stopping twice, records left by a stack that
no longer runs, and the scripts' checks before anything starts (bad handoff settings, a bad --conf), each reported
on one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from scripts.ports import HOST, free_port, port_in_use
from scripts.processes import StartedProcess, processes_using
from scripts.stack import Stack, StackError, StackRecord
from tests.conftest import PROJECT

# A bad value of a setting the backend reads, and what the error line must say besides the variable's name.
BAD_SETTINGS = {
    "HANDOFF_FORMAT": ("pikle", "'pikle' is not a handoff format: choose from joblib, skops, json"),
    "HANDOFF_ALLOWED_FORMATS": ("json", "'joblib' is not in HANDOFF_ALLOWED_FORMATS"),
{%- if cookiecutter.storage_backend == "shared_fs" %}
    "HANDOFF_ROOT": ("/no/such/handoff/root", "handoff root /no/such/handoff/root does not exist"),
{%- elif cookiecutter.storage_backend == "s3" %}
    "HANDOFF_S3_BUCKET": ("s3://models/handoff", "'s3://models/handoff' is not a bucket name"),
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
