"""A classic-CV example detector: colour blobs (numpy only), model format `color_blobs`.

`ColorBlobsFactory` is the factory to run: `loopnode detector --logic loopnode.examples.color_detector:ColorBlobsFactory`;
`color_blobs_lut_factory` serves the converted format `color_blobs_lut`.
"""
from .colormodel import MODEL_FILE, MODEL_FORMAT, CategoryColor, ColorModel, ColorModelError
from .logic import ColorBlobsFactory, ColorBlobsLogic, color_blobs_lut_factory
from .lut import LUT_FORMAT, ColorLut

__all__ = ['LUT_FORMAT', 'MODEL_FILE', 'MODEL_FORMAT', 'CategoryColor', 'ColorBlobsFactory', 'ColorBlobsLogic',
           'ColorLut', 'ColorModel', 'ColorModelError', 'color_blobs_lut_factory']
