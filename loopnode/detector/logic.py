"""What an implementer provides (detector.md §5.1): a factory that builds one logic per model version.

Both are protocols (duck typing, no base class needed). `MockDetectorFactory` (§5.3) is the `mocked`-format
factory used by tests and demos: its logic answers one detection of each kind, as upstream's test logic.
"""
from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

import numpy as np

from ..data import (BoxDetection, ClassificationDetection, ImageMetadata, ImagesMetadata, ModelInformation,
                    Point, PointDetection, SegmentationDetection, Shape)

MOCK_CONFIDENCE = 0.42


@runtime_checkable
class DetectorLogic(Protocol):
    """A ready-to-run model: `evaluate` is never called concurrently on one instance."""

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        """Detections on one RGB uint8 H×W×3 image (or a raw array as the client sent it), original pixels."""
        ...


@runtime_checkable
class BatchDetectorLogic(DetectorLogic, Protocol):
    """A logic that also evaluates batches (optional; the node falls back to `evaluate` per image)."""

    def batch_evaluate(self, images: list[np.ndarray]) -> ImagesMetadata:
        """Detections for each image, `items` in input order; may raise NotImplementedError."""
        ...


@runtime_checkable
class DetectorFactory(Protocol):
    """Builds a logic for exactly one model version; `build` may take minutes and raise on failure."""

    model_format: str

    def build(self, model_info: ModelInformation) -> DetectorLogic:
        """A logic for the model in `model_info.model_root_path` (absolute folder)."""
        ...


class MockDetectorLogic:
    """Answers one box, point, segmentation and classification (or nothing with `empty=True`)."""

    def __init__(self, model_info: ModelInformation, *, empty: bool = False) -> None:
        self.model_info = model_info
        self.empty = empty
        self.closed = False

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        if self.empty:
            return ImageMetadata()
        model_name = self.model_info.version
        return ImageMetadata(
            box_detections=[BoxDetection(category_name='some_category_name', x=1, y=2, width=4, height=3,
                                         model_name=model_name, confidence=MOCK_CONFIDENCE,
                                         category_id='some_id')],
            point_detections=[PointDetection(category_name='some_category_name_2', x=10.0, y=12.0,
                                             model_name=model_name, confidence=MOCK_CONFIDENCE,
                                             category_id='some_id_2')],
            segmentation_detections=[SegmentationDetection(category_name='some_category_name_3',
                                                           shape=Shape(points=[Point(x=1, y=1), Point(x=2, y=2)]),
                                                           model_name=model_name, confidence=MOCK_CONFIDENCE,
                                                           category_id='some_id_3')],
            classification_detections=[ClassificationDetection(category_name='some_category_name_4',
                                                               model_name=model_name, confidence=MOCK_CONFIDENCE,
                                                               category_id='some_id_4')])

    def batch_evaluate(self, images: list[np.ndarray]) -> ImagesMetadata:
        return ImagesMetadata(items=[self.evaluate(image) for image in images])

    def close(self) -> None:
        self.closed = True


class MockDetectorFactory:
    """Format `mocked`; `build` optionally waits `build_delay` seconds (interruptible by `cancel`)."""

    model_format = 'mocked'

    def __init__(self, *, empty: bool = False, build_delay: float = 0.0) -> None:
        self.empty = empty
        self.build_delay = build_delay
        self.cancel = threading.Event()
        self.built: list[str] = []

    def build(self, model_info: ModelInformation) -> MockDetectorLogic:
        if self.build_delay:
            self.cancel.wait(self.build_delay)
        self.built.append(model_info.version)
        return MockDetectorLogic(model_info, empty=self.empty)
