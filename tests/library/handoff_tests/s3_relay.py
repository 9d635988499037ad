"""A TCP relay in front of the local S3 server: the tests take S3 away and bring it back through it.

moto's server keeps objects in memory only, so stopping its process would lose the bucket, whereas a real
S3 or MinIO comes back with its data. Clients talk to the relay instead, and the relay is what goes down.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Literal

# upload: bytes from the client to the server; download: bytes from the server to the client.
Direction = Literal["upload", "download"]
# What happens once the armed number of bytes has passed: the server goes away, or stops answering.
Failure = Literal["outage", "stall"]


class Relay:
    """`cut_after(n, direction)` drops every connection once n more bytes have passed in that direction and
    refuses new ones, as an outage does; `stall_after(n, direction)` holds every byte from then on, as a hung
    network does; `restore()` brings the server back on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.relayed: dict[Direction, int] = {"upload": 0, "download": 0}
        self.cut: tuple[Direction, int, Failure] | None = None
        self.up = True
        self.flowing = threading.Event()
        self.flowing.set()
        self.lock = threading.Lock()
        self.connections: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.serve()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self) -> None:
        threading.Thread(target=self.accept, args=(self.listener,), daemon=True).start()

    def accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # the listener was closed: outage
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                late = listener is not self.listener or not self.up  # accepted just before an outage
                if not late:
                    self.connections += [client, server]
            if late:
                client.close()
                server.close()
                return
            threading.Thread(target=self.pump, args=(client, server, "upload"), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, "download"), daemon=True).start()

    def pump(self, source: socket.socket, sink: socket.socket, direction: Direction) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
                failure = self.count(direction, len(data))
                if failure == "stall":
                    self.stall()
                elif failure == "outage":
                    self.outage()
                    return

    def count(self, direction: Direction, n_bytes: int) -> Failure | None:
        """Add bytes that passed; once they reach the cut armed for that direction, return its failure."""
        with self.lock:
            self.relayed[direction] += n_bytes
            if self.cut is None or self.cut[0] != direction or self.relayed[direction] < self.cut[1]:
                return None
            return self.cut[2]

    def cut_after(self, n_bytes: int, direction: Direction) -> None:
        with self.lock:
            self.cut = (direction, self.relayed[direction] + n_bytes, "outage")

    def stall_after(self, n_bytes: int, direction: Direction) -> None:
        with self.lock:
            self.cut = (direction, self.relayed[direction] + n_bytes, "stall")

    @property
    def stalled(self) -> bool:
        return not self.flowing.is_set()

    def stall(self) -> None:
        with self.lock:
            self.cut = None
        self.flowing.clear()

    def outage(self) -> None:
        with self.lock:
            self.cut = None
            self.up = False
            doomed, self.connections = [self.listener, *self.connections], []
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        """Disarm any cut, let held bytes flow and, if the server is down, bring it back on the same port."""
        self.flowing.set()
        with self.lock:
            self.cut = None
            if self.up:
                return
            self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
            self.up = True
        self.serve()
