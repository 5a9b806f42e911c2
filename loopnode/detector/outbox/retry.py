"""When the uploader may try again (pure: the clock is injected; the uploader does the waiting).

**Differs from upstream and from detector.md §9.6 (issue 18):** the backoff after failures is 5 s doubling to
60 s (not 300 s) with full jitter; a 429's `Retry-After` is waited exactly; and any successful Loop call made
by another part of the node (status sync, target poll) ends a backoff wait at once and resets it, so uploads
resume within one poll interval of the Loop's return however long the outage was. A `Retry-After` wait is
not shortened by such a success: the Loop asked for it.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Callable

from ...backoff import Backoff

BACKOFF_BASE = 5.0
BACKOFF_CAP = 60.0


class RetrySchedule:
    """Thread-safe: `failed()`/`rate_limited()` set the next due time, `loop_ok()` may clear it."""

    def __init__(self, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP, *, jitter: bool = True,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None) -> None:
        self.backoff = Backoff(base, cap, jitter=jitter, rng=rng or random.Random())
        self._clock = clock
        self._lock = threading.Lock()
        self._due = 0.0
        self._hard = False  # the current wait is a Retry-After (not ended by loop_ok)
        self.resumes = 0    # backoff waits ended early by a successful Loop call

    def failed(self) -> float:
        """A failed request: wait the next backoff delay; returns it."""
        with self._lock:
            delay = self.backoff.next_delay()
            self._due, self._hard = self._clock() + delay, False
            return delay

    def rate_limited(self, retry_after: float | None) -> float:
        """A 429: wait exactly `retry_after` seconds if given, else the backoff; returns the wait."""
        if retry_after is None:
            return self.failed()
        with self._lock:
            self._due, self._hard = self._clock() + retry_after, True
            return retry_after

    def succeeded(self) -> None:
        """An upload went through: no wait, backoff from the start."""
        with self._lock:
            self.backoff.reset()
            self._due, self._hard = 0.0, False

    def loop_ok(self) -> bool:
        """Another Loop call succeeded: end a backoff wait and reset the backoff; True if a wait was ended."""
        with self._lock:
            if self._hard and self._clock() < self._due:
                return False
            waiting = self._clock() < self._due
            self.backoff.reset()
            self._due, self._hard = 0.0, False
            if waiting:
                self.resumes += 1
            return waiting

    def remaining(self) -> float:
        """Seconds until the next try is allowed (0 = now)."""
        with self._lock:
            return max(0.0, self._due - self._clock())

    @property
    def failures(self) -> int:
        return self.backoff.failures
