"""loopnode: synchronous, threaded Learning Loop nodes and devloop, a local Loop emulator.

Public API: the detector's `DetectorNode`, `DetectorLogic`, `DetectorFactory`, `MockDetectorFactory`, the
trainer's `TrainerNode`, `TrainerLogic`, `TrainerLogicGeneric`, `CancelToken` and exceptions, the annotator's
`AnnotatorNode`, `AnnotatorLogic`, `ToolOutput`, `MockAnnotatorLogic`, the converter's `ConverterNode` and
`ConverterLogic`, `NodeNeedsRestartError`, `Settings` and every wire record of `loopnode.data` (e.g.
`ImageMetadata`, `BoxDetection`, `ModelInformation`). Names are imported on first use, so `loopnode` itself
starts fast (`python -m loopnode` does not pay for Flask before it needs it).
"""
from __future__ import annotations

import importlib
from typing import Any

from . import data as _data

__version__ = '0.1.0'  # the one place of the version (setup.cfg reads it)

_LAZY = {
    'DetectorNode': 'loopnode.detector', 'DetectorLogic': 'loopnode.detector',
    'BatchDetectorLogic': 'loopnode.detector', 'DetectorFactory': 'loopnode.detector',
    'MockDetectorFactory': 'loopnode.detector', 'NodeNeedsRestartError': 'loopnode.errors',
    'Settings': 'loopnode.settings',
    **{name: 'loopnode.trainer' for name in (
        'TrainerNode', 'TrainerLogic', 'TrainerLogicGeneric', 'MockTrainerLogic', 'CancelToken', 'CriticalError',
        'DownloadError', 'ModelUploadFailedError', 'TrainingCancelled', 'TrainingError', 'TrainingRefusedError',
        'TrainingSlotTakenError')},
    'AnnotatorNode': 'loopnode.annotator', 'AnnotatorLogic': 'loopnode.annotator',
    'MockAnnotatorLogic': 'loopnode.annotator', 'ToolOutput': 'loopnode.annotator',
    'ConverterLogic': 'loopnode.converter', 'ConverterNode': 'loopnode.converter',
}

__all__ = sorted([*_LAZY, *_data.__all__])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _data.__all__:
        return getattr(_data, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
