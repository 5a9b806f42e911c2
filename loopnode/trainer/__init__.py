"""The trainer node (trainer.md): `TrainerNode`, the `TrainerLogic` API, `MockTrainerLogic` and the exceptions.

Names are imported on first use, so importing the logic API does not start Flask.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    'TrainerNode': 'loopnode.trainer.node', 'run_from_cli': 'loopnode.trainer.node',
    'TrainerLogic': 'loopnode.trainer.logic', 'TrainerLogicGeneric': 'loopnode.trainer.logic',
    'MockTrainerLogic': 'loopnode.trainer.mock', 'CancelToken': 'loopnode.trainer.cancel',
    'Executor': 'loopnode.service.executor', 'Training': 'loopnode.trainer.record',
    'CriticalError': 'loopnode.trainer.errors', 'DownloadError': 'loopnode.trainer.errors',
    'ModelUploadFailedError': 'loopnode.trainer.errors', 'NodeNeedsRestartError': 'loopnode.trainer.errors',
    'TrainingCancelled': 'loopnode.trainer.errors', 'TrainingError': 'loopnode.trainer.errors',
    'TrainingRefusedError': 'loopnode.trainer.errors', 'TrainingSlotTakenError': 'loopnode.trainer.errors',
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
