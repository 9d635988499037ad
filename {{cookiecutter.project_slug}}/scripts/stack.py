"""A local Airflow without Docker: api-server, scheduler, dag-processor and triggerer on this project's DAGs.

Each component runs as its own process (LocalExecutor: every task in a process of its own), with logs and a
record of the processes in one folder. Every process of a stack, down to the task processes, is a descendant of a
recorded component or carries the stack's id in its environment, so `stop` finds and stops all of them and nothing
is left behind. A record is trusted only as far as it can be checked: a process id counts only while it belongs to
the process that was started (same creation time), so a record left by a crash or a restart is cleared, and no other
process is ever signalled. The same code runs on Linux and macOS (psutil).

On a shared host the stack keeps to itself: its processes run under umask 077 and its own folders are made 0700,
so whatever they write (the metadata DB, the admin password's file, its logs and record, the task logs) is readable by
their owner only, whatever your umask; the log servers of the scheduler and the triggerer listen on 127.0.0.1 only
(scripts/airflow_loopback.py), as the API server does. The handoff library keeps its own modes for what it stores.

Used by `make stack` / `make stack-down`, by `make run` (a short-lived stack) and by the tests. `up` checks the
handoff settings first: a bad one is reported on one line and nothing starts.
Usage: python -m scripts.stack up|down|status
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import psutil
from airflow_model_handoff.airflow_api import admin_login, health
from airflow_model_handoff.errors import MisconfiguredError
from airflow_model_handoff.local.ports import port_in_use
from airflow_model_handoff.signing import (
    SIGNING_KEY_VARIABLE,
    ensure_local_signing_key,
)
from airflow_model_handoff.storage import check_handoff_settings

from scripts.processes import StartedProcess, carrying, describe, terminate, with_descendants

PROJECT = Path(__file__).resolve().parents[1]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
MARKER = "LOCAL_STACK_ID"
STATE_FILE = "stack.json"
# Health keys of GET /api/v2/monitor/health, per component.
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
# What the stack writes holds secrets (the admin password, in its file and the API server's log) and the metadata:
# its processes create files for their owner only, whatever the umask they were started from.
PRIVATE_UMASK = 0o077
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
# The components that start a log server of their own, run so that it listens on loopback only.
SERVING_LOGS = ("scheduler", "triggerer")


class StackError(RuntimeError):
    """The stack cannot start or stop; the message says why and what to do."""


@dataclass(frozen=True)
class StackRecord:
    """What `start` wrote down: the stack's id (in every process's environment) and each component's process."""

    id: str
    url: str
    components: dict[str, StartedProcess]

    @classmethod
    def read(cls, path: Path) -> StackRecord | None:
        """The record in ``path``; None if there is none or it cannot be read (an older format, a partial write)."""
        try:
            state = json.loads(path.read_text())
            components = {name: StartedProcess(**entry) for name, entry in state["processes"].items()}
            return cls(state["id"], state["url"], components)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def write(self, path: Path) -> None:
        processes = {name: started.to_json() for name, started in self.components.items()}
        with open_private(path, os.O_WRONLY | os.O_TRUNC) as record:
            record.write(json.dumps({"id": self.id, "url": self.url, "processes": processes}, indent=2).encode())

    def processes(self) -> list[psutil.Process]:
        """Every live process of this stack: its components (the ids still theirs), what they started, and whatever
        carries the stack's id in its environment (a process that left the tree or renamed itself)."""
        components = [process for started in self.components.values() if (process := started.find())]
        found = with_descendants(components)
        known = {process.pid for process in found}
        return found + [process for process in carrying(MARKER, self.id) if process.pid not in known]


@dataclass
class Stack:
    """One local Airflow, described by where it keeps its state and which ports it uses."""

    home: Path
    state_dir: Path
    api_port: int = 8080
    log_port: int = 8793
    trigger_log_port: int = 8794
    components: tuple[str, ...] = COMPONENTS
    env: Mapping[str, str] = field(default_factory=dict)
    commands: Mapping[str, list[str]] = field(default_factory=dict)
    extra_ports: tuple[int, ...] = ()
    after_start: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def state_path(self) -> Path:
        return self.state_dir / STATE_FILE

    def environment(self, stack_id: str) -> dict[str, str]:
        """What every component sees: one home, one secret, one Execution API, the project's DAGs.

        Your environment may choose the executor, database, parallelism... (e.g. CeleryExecutor on PostgreSQL);
        what ties the components together is set here.
        """
        env = {
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Task processes at once: two per CPU of this machine (tasks wait on storage and the API as well).
            "AIRFLOW__CORE__PARALLELISM": str(2 * (os.cpu_count() or 1)),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",  # new DAG files appear within 30 s
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # Task logs: Airflow sets these modes itself (default 0o664 and 0o775, whatever the umask).
            "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": f"0o{PRIVATE_FILE:o}",
            "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": f"0o{PRIVATE_DIR:o}",
            **os.environ,
            MARKER: stack_id,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.env)
        return env

    def command(self, component: str) -> list[str]:
        if component in self.commands:
            return list(self.commands[component])
        airflow = str(Path(sys.executable).with_name("airflow"))
        if component == "api-server":
            return [airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"]
        if component in SERVING_LOGS:
            return [sys.executable, "-m", "scripts.airflow_loopback", component]
        return [airflow, component]

    def migrate(self) -> None:
        """Create or upgrade the metadata database this stack uses."""
        airflow = str(Path(sys.executable).with_name("airflow"))
        make_private_dir(self.home)
        result = subprocess.run(
            [airflow, "db", "migrate"],
            env=self.environment("migrate"),
            cwd=PROJECT,
            umask=PRIVATE_UMASK,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise StackError(f"`airflow db migrate` failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    # -- state -------------------------------------------------------------------------------------

    def record(self) -> StackRecord | None:
        return StackRecord.read(self.state_path)

    def running(self) -> bool:
        """Whether a process of the recorded stack is alive."""
        record = self.record()
        return record is not None and bool(record.processes())

    def clear_stale_record(self) -> bool:
        """Remove a record of a stack that no longer runs (after a crash or a restart); True if there was one."""
        if not self.state_path.exists() or self.running():
            return False
        self.state_path.unlink()
        return True

    # -- start -------------------------------------------------------------------------------------

    def start(self, timeout: float = 240) -> None:
        """Start every component, then wait until the API and each component report healthy."""
        if self.running():
            raise StackError(f"a stack is already running at {self.url} (state in {self.state_dir})")
        for port in self.ports():
            if port_in_use(port):
                raise StackError(f"port {port} is already in use; choose another (see `make help`)")
        make_private_dir(self.state_dir)
        self.ensure_signing_key()
        stack_id = secrets.token_hex(8)
        env = self.environment(stack_id)
        started = {}
        try:
            for component in self.components:
                with open_private(self.state_dir / f"{component}.log", os.O_WRONLY | os.O_APPEND) as log:
                    process = subprocess.Popen(
                        self.command(component),
                        env=env,
                        cwd=PROJECT,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        umask=PRIVATE_UMASK,
                    )
                started[component] = StartedProcess.of(process.pid)
                # Recorded as each one starts: should the next one fail to start, `stop` still finds this one.
                StackRecord(stack_id, self.url, started).write(self.state_path)
            if self.after_start:
                self.after_start()
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def ensure_signing_key(self) -> None:
        """Without HANDOFF_SIGNING_KEY the components read the key file in their home: make one if it is missing.

        The home is made first if missing, for its owner only (it will hold the metadata DB and the password file).
        """
        make_private_dir(self.home)
        if not os.environ.get(SIGNING_KEY_VARIABLE):
            ensure_local_signing_key(self.home)

    def ports(self) -> list[int]:
        ports = [*self.extra_ports]
        if "api-server" in self.components:
            ports.append(self.api_port)
        if "scheduler" in self.components:
            ports.append(self.log_port)
        if "triggerer" in self.components:
            ports.append(self.trigger_log_port)
        return ports

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting_for = "the API server"
        while time.monotonic() < deadline:
            self.check_alive()
            waiting_for = self.unhealthy()
            if not waiting_for:
                return
            time.sleep(1)
        raise StackError(f"{waiting_for} not healthy after {timeout:.0f} s; see the logs in {self.state_dir}")

    def unhealthy(self) -> str:
        """The first component that is not healthy yet ('' when all are)."""
        status = health(self.url)
        if status is None:
            return "the API server"
        for component in self.components:
            key = HEALTH_KEYS.get(component)
            if key and (status.get(key) or {}).get("status") != "healthy":
                return f"the {component}"
        return ""

    def check_alive(self) -> None:
        record = self.record()
        assert record is not None, "start() writes the record before it waits"
        for component, started in record.components.items():
            if started.find() is None:
                tail = (self.state_dir / f"{component}.log").read_text(errors="replace").splitlines()[-15:]
                raise StackError(f"the {component} exited during start-up; last lines of its log:\n" + "\n".join(tail))

    # -- stop --------------------------------------------------------------------------------------

    def stop(self, timeout: float = 30) -> int:
        """Stop every process of the stack (components and their tasks); return how many there were.

        Only processes that the record proves are the stack's are signalled; the record is removed afterwards.
        """
        record = self.record()
        stopped = []
        if record is not None:
            stopped = record.processes()
            # A second look: a component may have started a process while it was stopping.
            survivors = terminate(stopped, timeout) + terminate(record.processes(), 10)
            if survivors:
                raise StackError("processes of the stack survived SIGKILL: " + "; ".join(map(describe, survivors)))
        self.state_path.unlink(missing_ok=True)
        return len(stopped)


def make_private_dir(path: Path) -> None:
    """Create folder ``path`` for its owner only (0700) if it is missing; an existing one is left as it is."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=PRIVATE_DIR)  # masked by the umask, so never wider than 0700
            path.chmod(PRIVATE_DIR)


def open_private(path: Path, flags: int) -> BinaryIO:
    """Open file ``path`` (created if missing) readable and writable by its owner only, from its first byte."""
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # the file may be older than this rule
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


@contextlib.contextmanager
def running_stack(stack: Stack, timeout: float = 240) -> Iterator[Stack]:
    """Start the stack for the duration of a `with` block; always stop it, even on failure."""
    try:
        stack.start(timeout)
        yield stack
    finally:
        stack.stop()


def check_settings(stack: Stack) -> None:
    """Before any process of ``stack`` starts: every handoff setting its tasks will read (this environment's),
    with the signing key file made first as ``start`` makes it; a bad setting is a StackError naming it."""
    stack.ensure_signing_key()
    try:
        check_handoff_settings()
    except MisconfiguredError as exc:
        raise StackError(str(exc)) from None


def stack_from_env() -> Stack:
    """The project's stack, configured by the make variables (see `make help`)."""
    stack = Stack(
        home=Path(os.environ.get("AIRFLOW_HOME", PROJECT / ".airflow")),
        state_dir=Path(os.environ.get("STACK_DIR", PROJECT / ".stack")),
        api_port=int(os.environ.get("API_PORT", "8080")),
        log_port=int(os.environ.get("LOG_PORT", "8793")),
        trigger_log_port=int(os.environ.get("TRIGGER_LOG_PORT", "8794")),
    )
{%- if cookiecutter.storage_backend == "s3" %}
    try:
        configured = bool(os.environ.get(connection_env()))
    except MisconfiguredError:
        return stack  # a bad storage setting: check_settings reports it before anything starts (stop needs none)
    if not configured:  # no connection configured: a local S3 server joins the stack
        add_local_s3(stack, int(os.environ.get("S3_PORT", "9090")))
{%- endif %}
    return stack
{%- if cookiecutter.storage_backend == "s3" %}


def connection_env() -> str:
    """The variable that configures the store's Airflow connection (HANDOFF_STORAGE names the connection)."""
    from airflow_model_handoff import default_store

    return f"AIRFLOW_CONN_{default_store().conn_id.upper()}"


def add_local_s3(stack: Stack, port: int) -> None:
    """A local S3 server (moto, over HTTP) as one more component, with the bucket and the connection set."""
    from airflow_model_handoff import default_store
    from airflow_model_handoff.local.s3 import connection_json, create_bucket, server_command

    endpoint = f"http://127.0.0.1:{port}"
    stack.components = ("s3", *stack.components)
    stack.commands = {**stack.commands, "s3": server_command(port)}
    stack.env = {**stack.env, connection_env(): connection_json(endpoint)}
    stack.extra_ports = (*stack.extra_ports, port)
    stack.after_start = lambda: create_bucket(endpoint, default_store().bucket)
{%- endif %}


def storage_description(stack: Stack) -> str:
    """Where the stack's tasks put the model, for people reading the output."""
{%- if cookiecutter.storage_backend == "shared_fs" %}
    from airflow_model_handoff import default_store

    return f"directory {default_store().root}"
{%- elif cookiecutter.storage_backend == "s3" %}
    from airflow_model_handoff import default_store

    where = "local S3 server" if "s3" in stack.components else "the configured connection"
    return f"bucket {default_store().bucket} via {where}"
{%- else %}
    return "Airflow Variables in the metadata DB (each run's teardown deletes its own)"
{%- endif %}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    args = parser.parse_args()
    stack = stack_from_env()
    try:
        if args.action == "up":
            if stack.running():
                print(f"the stack is already running: {stack.url} (make stack-down stops it)")
                return 0
            if stack.clear_stale_record():
                print(f"cleared the record of a stack that no longer runs ({stack.state_path})")
            check_settings(stack)
            print(f"starting {', '.join(stack.components)}; logs in {stack.state_dir}")
            print(f"storage: {storage_description(stack)}")
            stack.start()
            user, password = admin_login(stack.home)
            print(f"Airflow is up: {stack.url}  (login: {user} / {password}; make stack-down stops it)")
{%- if cookiecutter.storage_backend == "s3" %}
            if "s3" in stack.components:  # the handoff commands (champion, promote) read S3 outside Airflow
                print(f"local S3 connection for commands: export {connection_env()}='{stack.env[connection_env()]}'")
{%- endif %}
        elif args.action == "down":
            stale = stack.clear_stale_record()
            stopped = stack.stop()
            if stopped:
                print(f"stopped {stopped} processes")
            else:
                print("no stack was running" + (" (cleared the record of one that no longer runs)" if stale else ""))
        else:
            print(f"running: {stack.url}" if stack.running() else "not running")
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
