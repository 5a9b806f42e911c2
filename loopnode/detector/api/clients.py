"""ClientSet: the sids of the connected local Socket.IO clients (detector.md §3.1, F7)."""
from __future__ import annotations

import threading


class ClientSet:
    """The sids of connected local clients (added on connect, removed on disconnect; F7)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sids: set[str] = set()

    def add(self, sid: str) -> None:
        with self._lock:
            self._sids.add(sid)

    def discard(self, sid: str) -> None:
        with self._lock:
            self._sids.discard(sid)

    def snapshot(self) -> set[str]:
        with self._lock:
            return set(self._sids)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sids)
