"""When the Loop socket tries to connect again (loop-protocol.md §6.2), pure: no clock reads, no sleeping.

Waits double from `base` to `cap` with full jitter (`uniform(0, delay)`), so a fleet that lost the Loop at
the same moment spreads its retries. The doubling only starts over after a connection that *held* for
`hold` seconds: a Loop that accepts and drops at once (or acks the status with `success: false`) does not
get hammered. After a lost connection the first retry is jittered too, for the same reason.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..backoff import exponential_delay

BASE_DELAY = 1.0
MAX_DELAY = 60.0
HOLD_SECONDS = 10.0


@dataclass
class ReconnectPolicy:
    """Counts failed attempts and short-lived connections; says how long to wait before the next attempt."""

    base: float = BASE_DELAY
    cap: float = MAX_DELAY
    hold: float = HOLD_SECONDS
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0
    connected_at: float | None = None

    def attempt_failed(self) -> float:
        """An attempt failed: the jittered wait before the next one."""
        return self._next()

    def connected(self, now: float) -> None:
        """An attempt succeeded at `now` (the backoff is not reset until the connection has held)."""
        self.connected_at = now

    def lost(self, now: float) -> float:
        """The connection ended at `now`: reset if it held, then the jittered wait before the first retry."""
        if self.connected_at is not None and now - self.connected_at >= self.hold:
            self.failures = 0
        self.connected_at = None
        return self._next()

    def _next(self) -> float:
        self.failures += 1
        return self.rng.uniform(0.0, exponential_delay(self.failures, self.base, self.cap))
