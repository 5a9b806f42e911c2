"""The `color_blobs` model: per-category colour statistics in YCbCr, read from and written to JSON (pure).

A category matches a pixel when the Mahalanobis distance of the pixel's colour to the category's mean is at
most `max_distance`. The conversion from RGB and the inverse covariance are folded into one affine map per
category, so scoring an image is one 3x3 matrix product per pixel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

MODEL_FORMAT = 'color_blobs'
MODEL_FILE = 'color_model.json'
SCHEMA_VERSION = 1
COLOR_SPACE = 'ycbcr'
DETECTED_TYPES = ('box', 'point')

# Full-range BT.601 RGB -> YCbCr (the JPEG colour space): ycbcr = RGB_TO_YCBCR @ rgb + YCBCR_OFFSET.
RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114],
                         [-0.168736, -0.331264, 0.5],
                         [0.5, -0.418688, -0.081312]])
YCBCR_OFFSET = np.array([0.0, 128.0, 128.0])


class ColorModelError(ValueError):
    """A color_model.json that cannot be used; the message names the field."""


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """YCbCr (float64) of an (..., 3) RGB array."""
    return np.asarray(rgb, dtype=np.float64) @ RGB_TO_YCBCR.T + YCBCR_OFFSET


@dataclass(frozen=True)
class CategoryColor:
    """Colour statistics of one category and the geometry rules of its regions."""

    name: str
    type: str                     # 'box' or 'point'
    mean: tuple[float, float, float]
    covariance: tuple[tuple[float, float, float], ...]
    max_distance: float           # Mahalanobis distance (not squared) a pixel may have to match
    min_area: int                 # smallest region in original-image pixels
    id: str | None = None

    def scorer(self) -> 'ColorScorer':
        return ColorScorer.of(self)

    def to_dict(self) -> dict[str, Any]:
        return {'name': self.name, 'id': self.id, 'type': self.type, 'mean': [round(v, 4) for v in self.mean],
                'covariance': [[round(v, 4) for v in row] for row in self.covariance],
                'max_distance': round(self.max_distance, 4), 'min_area': self.min_area}


@dataclass(frozen=True)
class ColorScorer:
    """Squared Mahalanobis distance of RGB pixels to one category: |rgb @ weights + bias|^2."""

    weights: np.ndarray  # 3x3, float32
    bias: np.ndarray     # 3, float32
    max_sq_distance: float

    @classmethod
    def of(cls, color: CategoryColor) -> 'ColorScorer':
        inverse = np.linalg.inv(np.array(color.covariance, dtype=np.float64))
        whiten = np.linalg.cholesky(inverse)  # inverse = whiten @ whiten.T
        weights = RGB_TO_YCBCR.T @ whiten
        bias = (YCBCR_OFFSET - np.array(color.mean)) @ whiten
        return cls(weights.astype(np.float32), bias.astype(np.float32), float(color.max_distance) ** 2)

    def sq_distance(self, rgb: np.ndarray) -> np.ndarray:
        """Squared distances of an (..., 3) RGB array (any numeric dtype), float32 of shape (...)."""
        z = rgb.astype(np.float32, copy=False) @ self.weights + self.bias
        return np.einsum('...k,...k->...', z, z)

    def confidence(self, mean_rgb: np.ndarray) -> float:
        """exp(-d^2/2) of a region's mean colour: 1.0 at the category mean, 0.5 at d = 1.18."""
        d2 = float(self.sq_distance(np.asarray(mean_rgb, dtype=np.float32).reshape(1, 3))[0])
        return math.exp(-0.5 * d2)


@dataclass(frozen=True)
class ColorModel:
    """Everything in color_model.json."""

    categories: tuple[CategoryColor, ...]
    downsample: int = 2
    min_confidence: float = 0.2

    def to_dict(self) -> dict[str, Any]:
        return {'format': MODEL_FORMAT, 'schema_version': SCHEMA_VERSION, 'color_space': COLOR_SPACE,
                'downsample': self.downsample, 'min_confidence': self.min_confidence,
                'categories': [c.to_dict() for c in self.categories]}

    @classmethod
    def from_dict(cls, data: Any) -> 'ColorModel':
        """Strict parse; ColorModelError names the first bad field."""
        if not isinstance(data, dict):
            raise ColorModelError('color model: expected a JSON object')
        if data.get('schema_version') != SCHEMA_VERSION:
            raise ColorModelError(f'schema_version: expected {SCHEMA_VERSION}, got {data.get("schema_version")!r}')
        if data.get('color_space') != COLOR_SPACE:
            raise ColorModelError(f'color_space: expected {COLOR_SPACE!r}, got {data.get("color_space")!r}')
        downsample = data.get('downsample', 2)
        if not isinstance(downsample, int) or isinstance(downsample, bool) or not 1 <= downsample <= 8:
            raise ColorModelError(f'downsample: expected an integer in [1, 8], got {downsample!r}')
        min_confidence = _number(data.get('min_confidence', 0.2), 'min_confidence', 0.0, 1.0)
        raw = data.get('categories')
        if not isinstance(raw, list) or not raw:
            raise ColorModelError('categories: expected a non-empty list')
        categories = tuple(_category(item, f'categories[{i}]') for i, item in enumerate(raw))
        return cls(categories, downsample, min_confidence)


def _number(value: Any, path: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ColorModelError(f'{path}: expected a number in [{low:g}, {high:g}], got {value!r}')
    return float(value)


def _category(item: Any, path: str) -> CategoryColor:
    if not isinstance(item, dict):
        raise ColorModelError(f'{path}: expected an object')
    name = item.get('name')
    if not isinstance(name, str) or not name:
        raise ColorModelError(f'{path}.name: expected a non-empty string')
    kind = item.get('type')
    if kind not in DETECTED_TYPES:
        raise ColorModelError(f'{path}.type: expected one of {", ".join(DETECTED_TYPES)}, got {kind!r}')
    category_id = item.get('id')
    if category_id is not None and not isinstance(category_id, str):
        raise ColorModelError(f'{path}.id: expected a string or null')
    mean = item.get('mean')
    if not isinstance(mean, list) or len(mean) != 3:
        raise ColorModelError(f'{path}.mean: expected 3 numbers')
    mean_values = tuple(_number(v, f'{path}.mean[{k}]', -1e6, 1e6) for k, v in enumerate(mean))
    covariance = item.get('covariance')
    if not isinstance(covariance, list) or len(covariance) != 3 or \
            not all(isinstance(row, list) and len(row) == 3 for row in covariance):
        raise ColorModelError(f'{path}.covariance: expected a 3x3 list of numbers')
    cov = tuple(tuple(_number(v, f'{path}.covariance[{r}][{c}]', -1e9, 1e9) for c, v in enumerate(row))
                for r, row in enumerate(covariance))
    matrix = np.array(cov)
    if not np.allclose(matrix, matrix.T) or np.any(np.linalg.eigvalsh(matrix) <= 1e-9):
        raise ColorModelError(f'{path}.covariance: expected a symmetric positive definite matrix')
    max_distance = _number(item.get('max_distance'), f'{path}.max_distance', 0.01, 1000.0)
    min_area = item.get('min_area')
    if not isinstance(min_area, int) or isinstance(min_area, bool) or min_area < 1:
        raise ColorModelError(f'{path}.min_area: expected an integer >= 1, got {min_area!r}')
    return CategoryColor(name, kind, mean_values, cov, max_distance, min_area, category_id)  # type: ignore[arg-type]
