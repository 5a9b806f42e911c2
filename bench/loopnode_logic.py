"""loopnode's benchmark logic: the same fixed detections as the upstream runner (compat/fixed_detections.py).

Run with `python -m loopnode detector --logic loopnode_logic:FixedLogicFactory` and
`PYTHONPATH=bench:compat` (the benchmark does that). A fresh result object per call, as a real model makes.
"""
from __future__ import annotations

import fixed_detections as fixed
import numpy as np

from loopnode import data as data_classes
from loopnode.data import ImageMetadata, ImagesMetadata, ModelInformation


class FixedLogic:
    """Answers the fixed box, point, segmentation and classification detections for any image."""

    def __init__(self, model_info: ModelInformation) -> None:
        self.model_info = model_info

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        return fixed.metadata(data_classes, self.model_info.version)

    def batch_evaluate(self, images: list[np.ndarray]) -> ImagesMetadata:
        return ImagesMetadata(items=[self.evaluate(image) for image in images])


class FixedLogicFactory:
    """Format `mocked`, like the demo project's models."""

    model_format = 'mocked'

    def build(self, model_info: ModelInformation) -> FixedLogic:
        return FixedLogic(model_info)
