"""The server-wide budget of spooled request bodies: what all chunked bodies in flight may hold together.

Each chunked body is capped at the body limit on its own, but 256 connections times 64 MiB would still be
16 GiB in `{DATA}/tmp`. Every chunk is reserved here before it is read; a chunk that does not fit is refused
(503 + Retry-After) and the whole reservation of a body is released when its request ends.
"""
from __future__ import annotations

import threading


class SpoolBudget:
    """A thread-safe byte counter with a ceiling; `reserve` never blocks."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._used = 0
        self._lock = threading.Lock()

    def reserve(self, n: int) -> bool:
        """Take `n` bytes if they fit under the ceiling; False (nothing taken) otherwise."""
        with self._lock:
            if self._used + n > self.total:
                return False
            self._used += n
            return True

    def release(self, n: int) -> None:
        with self._lock:
            self._used -= n
            assert self._used >= 0, 'released more than reserved'

    @property
    def used(self) -> int:
        with self._lock:
            return self._used
