"""A detector factory for the exit-code test: its logic's `evaluate` raises NodeNeedsRestartError."""
from __future__ import annotations

import numpy as np

from loopnode.data import ImageMetadata, ModelInformation
from loopnode.errors import NodeNeedsRestartError


class GpuGoneLogic:
    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        raise NodeNeedsRestartError('the GPU is gone')


class GpuGoneFactory:
    """Format `mocked` (devloop's demo models have it); every built logic fails with NodeNeedsRestartError."""

    model_format = 'mocked'

    def build(self, model_info: ModelInformation) -> GpuGoneLogic:
        return GpuGoneLogic()
