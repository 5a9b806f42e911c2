"""The model worker's thread and its jobs besides updates (a `Target`): reload current_model, and the reset."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from ...service.workers import Worker

LOAD_CURRENT = 'load_current'
RESET_WAIT = 60.0  # seconds `reset()` waits for the model worker (a build in flight cannot be interrupted)


@dataclass
class ResetJob:
    """The backdoor reset as a job of the model worker, so no job in flight can re-activate a model after it."""

    wipe: Callable[[], None] | None
    done: threading.Event = field(default_factory=threading.Event)


class ModelWorker(Worker):
    """The `model` thread; stopping it also wakes it from waiting and cancels a download in flight."""

    def __init__(self, target: Callable[[threading.Event], None], wake: threading.Event,
                 cancel: threading.Event) -> None:
        super().__init__('model', target)
        self._wake = wake
        self._cancel = cancel

    def stop(self) -> None:
        super().stop()
        self._cancel.set()
        self._wake.set()
