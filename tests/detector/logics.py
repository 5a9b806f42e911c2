"""Small test logics and factories (also loaded by `loopnode detector --logic tests.detector.logics:…`)."""
from __future__ import annotations

import threading

import numpy as np

from loopnode.data import BoxDetection, ImageMetadata, ModelInformation, PointDetection
from loopnode.errors import NodeNeedsRestartError


class BoxPointLogic:
    """One box and one point at a fixed confidence (D9, D11)."""

    def __init__(self, info: ModelInformation, confidence: float) -> None:
        self.info = info
        self.confidence = confidence

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        return ImageMetadata(
            box_detections=[BoxDetection(category_name='weed', x=10, y=10, width=20, height=20,
                                         model_name=self.info.version, confidence=self.confidence, category_id='w')],
            point_detections=[PointDetection(category_name='crop', x=50.0, y=50.0, model_name=self.info.version,
                                             confidence=self.confidence, category_id='c')])


class BoxPointFactory:
    model_format = 'mocked'

    def __init__(self, confidence: float = 0.42) -> None:
        self.confidence = confidence

    def build(self, model_info: ModelInformation) -> BoxPointLogic:
        return BoxPointLogic(model_info, self.confidence)


class CachedResultLogic:
    """Returns the same ImageMetadata object every time (F10)."""

    def __init__(self) -> None:
        self.result = ImageMetadata(tags=['cached'], box_detections=[BoxDetection(
            category_name='a', x=1.6, y=2, width=3, height=4, model_name='m', confidence=0.9)])  # type: ignore[arg-type]

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        return self.result


class CachedResultFactory:
    model_format = 'mocked'

    def __init__(self) -> None:
        self.logic = CachedResultLogic()

    def build(self, model_info: ModelInformation) -> CachedResultLogic:
        return self.logic


class RaisingLogic:
    """evaluate raises `error` (RuntimeError by default); NodeNeedsRestartError for F21."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        raise self.error


class RaisingFactory:
    model_format = 'mocked'

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or RuntimeError('the logic broke')

    def build(self, model_info: ModelInformation) -> RaisingLogic:
        return RaisingLogic(self.error)


class WrongResultFactory:
    """evaluate returns a dict instead of an ImageMetadata (→ 500)."""

    model_format = 'mocked'

    def build(self, model_info: ModelInformation) -> object:
        class Logic:
            def evaluate(self, image: np.ndarray) -> object:
                return {'box_detections': []}
        return Logic()


class NoBatchLogic:
    """Only `evaluate`; `batch_evaluate` raises NotImplementedError (F28). Records the calls."""

    def __init__(self, info: ModelInformation) -> None:
        self.info = info
        self.calls: list[tuple[int, ...]] = []

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        self.calls.append(image.shape)
        return ImageMetadata(tags=[f'{image.shape[0]}x{image.shape[1]}'])

    def batch_evaluate(self, images: list[np.ndarray]) -> object:
        raise NotImplementedError


class NoBatchFactory:
    model_format = 'mocked'

    def __init__(self) -> None:
        self.logics: list[NoBatchLogic] = []

    def build(self, model_info: ModelInformation) -> NoBatchLogic:
        self.logics.append(NoBatchLogic(model_info))
        return self.logics[-1]


class SlowBuildFactory:
    """`build` takes `seconds` (interruptible through `release`), then builds the mock logic (F8)."""

    model_format = 'mocked'

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self.release = threading.Event()

    def build(self, model_info: ModelInformation) -> object:
        from loopnode.detector import MockDetectorFactory
        self.release.wait(self.seconds)
        return MockDetectorFactory().build(model_info)


def restart_in_build() -> object:
    """F21: a factory whose build raises NodeNeedsRestartError."""
    class Factory:
        model_format = 'mocked'

        def build(self, model_info: ModelInformation) -> object:
            raise NodeNeedsRestartError('the GPU is gone')
    return Factory()


def restart_in_evaluate() -> RaisingFactory:
    """F21: a factory whose logic raises NodeNeedsRestartError from evaluate."""
    return RaisingFactory(NodeNeedsRestartError('CUDA error: device lost'))
