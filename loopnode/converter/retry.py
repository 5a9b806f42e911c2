"""Per-model retry schedule of the converter (annotator-converter.md §B5); pure, with an injected clock.

After the k-th consecutive failure of a model the next attempt waits `min(300 * 2**(k-1), 21600)` s
(5 min, 10 min, 20 min, … 6 h). A success (200 or 409) forgets the model. Nothing is ever blacklisted for
good. **Differs from upstream:** upstream never retried a failed model until the process restarted.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..backoff import exponential_delay

FIRST_DELAY = 300.0
MAX_DELAY = 21600.0

Clock = Callable[[], float]


def retry_delay(failures: int) -> float:
    """Seconds to wait after `failures` consecutive failures (0 for none)."""
    return exponential_delay(failures, FIRST_DELAY, MAX_DELAY)


@dataclass(frozen=True)
class Failure:
    """What is known about one failing model."""

    model_id: str
    organization: str
    project: str
    version: str
    failures: int
    last_error: str
    next_attempt: float  # clock time before which the model is not tried again


class RetrySchedule:
    """Thread-safe failure records per model id; `clock` is monotonic seconds (tests pass a fake one)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, Failure] = {}

    def record_failure(self, model_id: str, error: str, *, organization: str = '', project: str = '',
                       version: str = '') -> Failure:
        """One more consecutive failure: the model waits `retry_delay(k)` from now."""
        with self._lock:
            previous = self._failures.get(model_id)
            count = 1 if previous is None else previous.failures + 1
            failure = Failure(model_id, organization, project, version, count, error,
                              self.clock() + retry_delay(count))
            self._failures[model_id] = failure
            return failure

    def record_success(self, model_id: str) -> None:
        """A 200 or 409: the model's failures are forgotten."""
        self.forget([model_id])

    def forget(self, model_ids: list[str] | set[str]) -> None:
        with self._lock:
            for model_id in model_ids:
                self._failures.pop(model_id, None)

    def waiting(self, model_id: str) -> bool:
        """True while the model must not be tried (its next attempt lies in the future)."""
        with self._lock:
            failure = self._failures.get(model_id)
        return failure is not None and self.clock() < failure.next_attempt

    def failure(self, model_id: str) -> Failure | None:
        with self._lock:
            return self._failures.get(model_id)

    def failures(self) -> list[Failure]:
        """Every failing model, oldest record first."""
        with self._lock:
            return list(self._failures.values())

    def seconds_until(self, failure: Failure) -> float:
        """Seconds until the model may be tried again (0 when it may be tried now)."""
        return max(0.0, failure.next_attempt - self.clock())
