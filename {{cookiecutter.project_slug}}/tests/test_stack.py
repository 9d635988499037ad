"""The local stack's guards, which need no Airflow process: busy ports, stopping twice."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from scripts.stack import Stack, StackError, free_port


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


def test_stopping_a_stack_that_is_not_running_is_harmless(tmp_path: Path) -> None:
    stack = Stack(home=tmp_path / "home", state_dir=tmp_path / "state")
    assert stack.stop() == 0
    assert stack.stop() == 0
