"""Pure backoff arithmetic shared by every retry loop (no sleeping here: callers wait on their stop event)."""
from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field


def exponential_delay(attempt: int, base: float, cap: float) -> float:
    """Delay before retry `attempt` (1-based): base * 2**(attempt-1), capped."""
    if attempt < 1:
        return 0.0
    return min(cap, base * (2 ** min(attempt - 1, 62)))


def full_jitter(delay: float, rng: random.Random | None = None) -> float:
    """A uniform random wait in [0, delay], so a fleet does not retry in lock-step."""
    return (rng or random).uniform(0.0, delay)


def parse_retry_after(value: str | None, *, cap: float = 300.0, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta seconds or HTTP date), capped; None if absent or unparsable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(cap, seconds))


@dataclass
class Backoff:
    """Counts consecutive failures and says how long to wait next: `base` doubling up to `cap`, optionally jittered."""

    base: float
    cap: float
    jitter: bool = True
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        """Record one more failure and return the wait before the next attempt."""
        self.failures += 1
        delay = exponential_delay(self.failures, self.base, self.cap)
        return full_jitter(delay, self.rng) if self.jitter else delay

    def reset(self) -> None:
        """A success: start again from `base`."""
        self.failures = 0
