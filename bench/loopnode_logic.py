"""loopnode's benchmark logic: the same fixed detections as the upstream runner (compat/fixed_detections.py).

Run with `python -m loopnode detector --logic loopnode_logic:FixedLogicFactory` and
`PYTHONPATH=bench:compat` (the benchmark does that). A fresh result object per call, as a real model makes.
"""
from __future__ import annotations

import fixed_detections as fixed
import numpy as np

from loopnode.data import (BoxDetection, ClassificationDetection, ImageMetadata, ImagesMetadata, ModelInformation,
                           Point, PointDetection, SegmentationDetection, Shape)


class FixedLogic:
    """Answers the fixed box, point, segmentation and classification detections for any image."""

    def __init__(self, model_info: ModelInformation) -> None:
        self.model_info = model_info

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        name = self.model_info.version
        return ImageMetadata(
            box_detections=[BoxDetection(category_name=b['category_name'], x=b['x'], y=b['y'], width=b['width'],
                                         height=b['height'], model_name=name, confidence=fixed.CONFIDENCE,
                                         category_id=b['category_id']) for b in fixed.BOXES],
            point_detections=[PointDetection(category_name=p['category_name'], x=p['x'], y=p['y'], model_name=name,
                                             confidence=fixed.CONFIDENCE, category_id=p['category_id'])
                              for p in fixed.POINTS],
            segmentation_detections=[SegmentationDetection(
                category_name=s['category_name'], shape=Shape(points=[Point(x=x, y=y) for x, y in s['points']]),
                model_name=name, confidence=fixed.CONFIDENCE, category_id=s['category_id'])
                for s in fixed.SEGMENTATIONS],
            classification_detections=[ClassificationDetection(category_name=c['category_name'], model_name=name,
                                                               confidence=fixed.CONFIDENCE,
                                                               category_id=c['category_id'])
                                       for c in fixed.CLASSIFICATIONS])

    def batch_evaluate(self, images: list[np.ndarray]) -> ImagesMetadata:
        return ImagesMetadata(items=[self.evaluate(image) for image in images])


class FixedLogicFactory:
    """Format `mocked`, like the demo project's models."""

    model_format = 'mocked'

    def build(self, model_info: ModelInformation) -> FixedLogic:
        return FixedLogic(model_info)
