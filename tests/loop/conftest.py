"""Fixtures of the Loop client tests."""
from __future__ import annotations

import socket
import threading
from typing import Iterator

import pytest


@pytest.fixture
def silent_loop() -> Iterator[tuple[str, list[socket.socket]]]:
    """A listening socket that accepts and reads a request but never answers; its URL and the connections."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except socket.timeout:
                continue
            conn.settimeout(5)
            try:
                conn.recv(65536)  # the request arrived; no answer ever
            except OSError:
                pass
            accepted.append(conn)
    thread = threading.Thread(target=serve, name='silent-loop')
    thread.start()
    yield f'http://127.0.0.1:{server.getsockname()[1]}', accepted
    stop.set()
    thread.join(10)
    for conn in accepted:
        conn.close()
    server.close()
