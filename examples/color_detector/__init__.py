"""A classic-CV example detector: colour blobs (numpy only), model format `color_blobs`.

`ColorBlobsFactory` is the factory to run: `loopnode detector --logic loopnode.examples.color_detector:ColorBlobsFactory`.
"""
from .colormodel import MODEL_FILE, MODEL_FORMAT, CategoryColor, ColorModel, ColorModelError
from .logic import ColorBlobsFactory, ColorBlobsLogic

__all__ = ['MODEL_FILE', 'MODEL_FORMAT', 'CategoryColor', 'ColorBlobsFactory', 'ColorBlobsLogic', 'ColorModel',
           'ColorModelError']
