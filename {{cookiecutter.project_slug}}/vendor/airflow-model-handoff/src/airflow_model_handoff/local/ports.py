"""Local TCP ports: whether one is free, a free one, waiting for a server to listen. The one place scripts, tests and
the benchmark ask about ports."""

from __future__ import annotations

import socket
import time

HOST = "127.0.0.1"


def port_in_use(port: int) -> bool:
    """Whether a server on this machine could not listen on ``port`` now: something accepts connections there, or
    binding fails even with SO_REUSEADDR, as servers bind. Connections of a stopped server that linger in TIME-WAIT
    (about a minute) do not count: the next server starts on the port regardless."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((HOST, port)) == 0:
            return True
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    """A port nobody listens on now (for tests and short-lived servers)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_until_listening(port: int, timeout: float) -> None:
    """Return once something accepts connections on ``port``; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on port {port} after {timeout:.0f} s") from None
            time.sleep(0.1)
