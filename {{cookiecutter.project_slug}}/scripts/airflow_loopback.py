"""`airflow COMMAND ...` with Airflow's log servers bound to loopback: how the local stack runs its scheduler and
triggerer. Usage: python -m scripts.airflow_loopback scheduler|triggerer|...

The scheduler (for its LocalExecutor's tasks) and the triggerer each start a log server, from which the API server
reads the logs of running and deferred tasks. Airflow 3.3 binds it to every interface (``host=""`` in
``airflow.utils.serve_logs.core``) and has no setting for the address, so any machine that can reach this one could
ask it for logs. Here the uvicorn that the log server calls binds to a loopback address instead; everything else is
Airflow's. That address is the one this machine's name resolves to when it is a loopback one (127.0.1.1 on Debian
and Ubuntu): the API server asks for a running task's log at the host name the task recorded. Otherwise (a name that
resolves to a network address) it is 127.0.0.1, and the API server shows a running task's log from its file alone,
noting that the log server could not be reached. Airflow's own line "Starting log server on http://[::]:PORT" is
written before and still names every interface; uvicorn's "Uvicorn running on ..." that follows names the address.

The change is made when this module is imported, so a log server started by multiprocessing's spawn method (which
imports the main module again: macOS's default) binds to loopback too. Should Airflow's log server change shape, the
import fails rather than leave it on every interface; tests/test_stack.py checks the addresses a stack listens on.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

import uvicorn
from airflow.utils.net import get_hostname
from airflow.utils.serve_logs import core

LOOPBACK = "127.0.0.1"

if getattr(core, "uvicorn", None) is not uvicorn or not callable(getattr(core, "serve_logs", None)):
    raise ImportError("Airflow's log server no longer runs uvicorn.run: scripts/airflow_loopback.py needs updating")


def loopback_host() -> str:
    """The loopback address that this machine's name, as Airflow records it for a task, resolves to; else 127.0.0.1."""
    try:
        address = socket.gethostbyname(get_hostname())
    except (OSError, UnicodeError):
        return LOOPBACK
    return address if ipaddress.ip_address(address).is_loopback else LOOPBACK


class LoopbackUvicorn:
    """uvicorn as Airflow's log server sees it: every server it runs listens on a loopback address only."""

    def __getattr__(self, name: str) -> Any:
        return getattr(uvicorn, name)

    @staticmethod
    def run(app: Any, **kwargs: Any) -> None:
        uvicorn.run(app, **{**kwargs, "host": loopback_host()})


core.uvicorn = LoopbackUvicorn()


def main() -> None:
    from airflow.__main__ import main as airflow

    sys.argv[0] = "airflow"
    airflow()


if __name__ == "__main__":
    main()
