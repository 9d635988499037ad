"""Finding and stopping the processes a script started, the same way on Linux and macOS (psutil).

A process id alone does not say which process it is: after the process exits (or the machine restarts), the id can
go to another one. So a started process is recorded with its creation time, and only a live process with both the
same id and the same creation time counts as the one that was started. The one place scripts and tests find
processes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

# Creation times are computed from the clock at each reading: allow for rounding, not for another process.
SAME_START_SECONDS = 0.05


@dataclass(frozen=True)
class StartedProcess:
    """What identifies a process this program started, as kept in a state file."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> StartedProcess:
        return cls(pid, psutil.Process(pid).create_time())

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    def find(self) -> psutil.Process | None:
        """The live process, if the id still belongs to the process that was started; else None."""
        try:
            process = psutil.Process(self.pid)
            same = abs(process.create_time() - self.create_time) < SAME_START_SECONDS
        except psutil.Error:
            return None
        return process if same and alive(process) else None


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def with_descendants(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    """The processes and every live process they started, each once."""
    found: dict[int, psutil.Process] = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            for member in (process, *process.children(recursive=True)):
                if alive(member):
                    found.setdefault(member.pid, member)
    return list(found.values())


def carrying(variable: str, value: str) -> list[psutil.Process]:
    """Live processes of this user whose environment sets ``variable`` to ``value`` (a process that left its parent's
    tree, or renamed itself, still carries the environment it started with)."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.pid != os.getpid() and process.environ().get(variable) == value and alive(process):
                found.append(process)
    return found


def terminate(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """SIGTERM, then SIGKILL for any still alive after ``timeout`` seconds; return those that survived even that.

    psutil signals a process only if its id still belongs to it, so a process that exited meanwhile is skipped.
    """
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive_after_term = psutil.wait_procs(processes, timeout=timeout)
    for process in alive_after_term:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    _, survivors = psutil.wait_procs(alive_after_term, timeout=10)
    return [process for process in survivors if alive(process)]


def describe(process: psutil.Process) -> str:
    """'pid: command line' (shortened), for messages."""
    try:
        return f"{process.pid}: {' '.join(process.cmdline())[:120]}"
    except psutil.Error:
        return f"{process.pid}: (gone)"


def processes_using(folder: Path, home_variable: str = "AIRFLOW_HOME") -> list[str]:
    """Live processes of this user started from ``folder``: its path in their command line, their working directory
    in it, or ``home_variable`` pointing into it. For checks that nothing was left behind."""
    mark = str(folder)
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            if not alive(process):
                continue
            uses = (
                any(mark in part for part in process.cmdline())
                or Path(process.cwd()).is_relative_to(folder)
                or Path(process.environ().get(home_variable, "/")).is_relative_to(folder)
            )
            if uses:
                found.append(describe(process))
    return found
