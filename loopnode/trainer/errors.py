"""Exceptions of the trainer and its logics (trainer.md §9.4); each one says how the state machine reacts."""
from __future__ import annotations

from ..errors import NodeNeedsRestartError


class CriticalError(Exception):
    """The training cannot go on: the step's error is set and the training goes to `ready_for_cleanup`."""


class ModelUploadFailedError(Exception):
    """A model upload failed for a transient reason (408, 429, 5xx, network): retried with backoff."""


class TrainingError(Exception):
    """The training process failed (log error or exit code): `run_training` returns to `train_model_downloaded`."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class DownloadError(Exception):
    """A download from the Loop failed (non-200 or transport error): the step is retried."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class TrainingRefusedError(Exception):
    """`begin_training` is refused (the ack carries `payload: "refused"`)."""


class TrainingSlotTakenError(TrainingRefusedError):
    """The training slot (trainer.md §8) is held by a sibling; `holder` is its lock file text."""

    def __init__(self, holder: str) -> None:
        super().__init__(f'the training slot is held by {holder}')
        self.holder = holder


class TrainingCancelled(Exception):
    """Abort or shutdown was requested; raised by `CancelToken.check()` and treated as a cancellation."""


__all__ = ['CriticalError', 'DownloadError', 'ModelUploadFailedError', 'NodeNeedsRestartError',
           'TrainingCancelled', 'TrainingError', 'TrainingRefusedError', 'TrainingSlotTakenError']
