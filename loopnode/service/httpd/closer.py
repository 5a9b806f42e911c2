"""Refused connections: answer, then discard the client's unread input for a moment before closing.

Closing a socket with unread input makes the kernel send a reset, which can destroy the answer before the
client reads it. A refused connection (503 over the connection limit, 400/413/431 ...) is therefore handed
to one `Closer` thread: it sends the answer, shuts down the write side, and reads and drops whatever arrives
until the client closes, `linger` seconds pass or `max_discard` bytes were dropped. One thread serves every
refused connection, so refusals cost no handler thread and never read a whole oversized body.
"""
from __future__ import annotations

import logging
import selectors
import socket
import threading
import time

log = logging.getLogger(__name__)

MAX_LINGERING = 1024


class Closer:
    """One named thread that lingers refused connections (see module docstring)."""

    def __init__(self, name: str, linger: float, max_discard: int = 1 << 20) -> None:
        self.linger = linger
        self.max_discard = max_discard
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._incoming: list[socket.socket] = []
        self._lingering: dict[socket.socket, list[float]] = {}  # socket -> [deadline, bytes discarded]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name)

    def start(self) -> None:
        self._thread.start()

    def refuse(self, sock: socket.socket, answer: bytes) -> None:
        """Send `answer` (best effort, never blocks) and close `sock` after lingering; takes ownership."""
        try:
            sock.setblocking(False)
            if answer:
                sock.send(answer)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        with self._lock:
            if self._stop.is_set() or len(self._incoming) + len(self._lingering) >= MAX_LINGERING:
                sock.close()
                return
            self._incoming.append(sock)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b'x')
        except OSError:  # the wake-up pipe is full: the thread wakes anyway
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                incoming, self._incoming = self._incoming, []
            now = time.monotonic()
            for sock in incoming:
                self._lingering[sock] = [now + self.linger, 0]
                self._selector.register(sock, selectors.EVENT_READ)
            timeout = min((d for d, _ in self._lingering.values()), default=now + 3600) - now
            for key, _ in self._selector.select(max(0.0, timeout)):
                if key.fileobj is self._wake_r:
                    try:
                        while self._wake_r.recv(4096):
                            pass
                    except OSError:
                        pass
                    continue
                self._discard(key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            for sock in [s for s, (deadline, _) in self._lingering.items() if deadline <= now]:
                self._close(sock)
        for sock in list(self._lingering):
            self._close(sock)
        with self._lock:
            for sock in self._incoming:
                sock.close()
            self._incoming = []

    def _discard(self, sock: socket.socket) -> None:
        entry = self._lingering.get(sock)
        if entry is None:
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b''
        entry[1] += len(data)
        if not data or entry[1] > self.max_discard:
            self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        self._lingering.pop(sock, None)
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()

    @property
    def lingering(self) -> int:
        with self._lock:
            return len(self._incoming) + len(self._lingering)

    def stop(self) -> None:
        """Close every lingering connection and join the thread."""
        self._stop.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
