"""The cancel token a training's hooks observe (trainer.md §9.3): set on abort and on shutdown."""
from __future__ import annotations

import threading

from .errors import TrainingCancelled


class CancelToken:
    """A one-way flag with an interruptible sleep; `check()` raises `TrainingCancelled` once set."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        """True once abort or shutdown was requested."""
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; returns True early when cancelled (use instead of `time.sleep`)."""
        return self._event.wait(max(0.0, seconds))

    def check(self) -> None:
        """Raise `TrainingCancelled` when cancelled: a check point for long hooks."""
        if self._event.is_set():
            raise TrainingCancelled('training cancelled')

    @property
    def event(self) -> threading.Event:
        """The underlying event, for APIs that take one (e.g. `LoopHttp.request(cancel=...)`)."""
        return self._event
