"""Finding colour blobs in an image (pure numpy): per-category pixel masks, coarse regions, exact bounds.

For each category: squared Mahalanobis distance of every pixel, threshold to a mask, label connected regions
on a `downsample`-times smaller majority mask (cheap, and it drops speckles of JPEG noise), then re-measure
each region on the full-resolution mask in a small window around it, so boxes are exact to the pixel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .colormodel import CategoryColor, ColorModel, ColorScorer
from .components import find_regions


@dataclass(frozen=True)
class Blob:
    """One detected region in original-image pixels: bounding box (x1, y1 exclusive), centre, confidence."""

    category: CategoryColor
    x0: int
    y0: int
    x1: int
    y1: int
    cx: float
    cy: float
    area: int
    confidence: float


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An H x W x 3 view of the input: grey images are repeated, an alpha channel is dropped."""
    array = np.asarray(image)
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return array[:, :, :3]
    raise ValueError(f'expected an H x W, H x W x 3 or H x W x 4 image, got shape {array.shape}')


def _majority(mask: np.ndarray, factor: int) -> np.ndarray:
    """Mask downsampled by `factor`: a cell is set when at least half of its pixels are."""
    if factor == 1:
        return mask
    h, w = (mask.shape[0] // factor) * factor, (mask.shape[1] // factor) * factor
    pixels = mask[:h, :w].view(np.uint8)
    total = np.zeros((h // factor, w // factor), dtype=np.uint8)  # factor <= 8: at most 64 per cell
    for dy in range(factor):
        for dx in range(factor):
            total += pixels[dy::factor, dx::factor]
    return total >= (factor * factor + 1) // 2


def category_blobs(rgb: np.ndarray, mask: np.ndarray, category: CategoryColor, scorer: ColorScorer,
                   factor: int) -> list[Blob]:
    """The regions of one category's pixel `mask` (any source: Mahalanobis scoring or a lookup table)."""
    h, w = rgb.shape[:2]
    coarse_min_area = max(1, category.min_area // (2 * factor * factor))
    blobs = []
    for region in find_regions(_majority(mask, factor), min_area=coarse_min_area):
        wx0, wy0 = max(0, (region.x0 - 1) * factor), max(0, (region.y0 - 1) * factor)
        wx1, wy1 = min(w, (region.x1 + 1) * factor), min(h, (region.y1 + 1) * factor)
        window = mask[wy0:wy1, wx0:wx1]
        parts = find_regions(window, min_area=category.min_area)
        if not parts:
            continue
        part = parts[0]
        inside = window[part.y0:part.y1, part.x0:part.x1]
        pixels = rgb[wy0 + part.y0:wy0 + part.y1, wx0 + part.x0:wx0 + part.x1][inside]
        confidence = scorer.confidence(pixels.mean(axis=0))
        blobs.append(Blob(category, wx0 + part.x0, wy0 + part.y0, wx0 + part.x1, wy0 + part.y1,
                          wx0 + part.cx, wy0 + part.cy, part.area, confidence))
    return blobs


def find_blobs(image: np.ndarray, model: ColorModel, scorers: list[ColorScorer] | None = None) -> list[Blob]:
    """Blobs of every category of `model` at or above its `min_confidence`, in category order."""
    rgb = as_rgb(image)
    scorers = scorers if scorers is not None else [c.scorer() for c in model.categories]
    blobs: list[Blob] = []
    for category, scorer in zip(model.categories, scorers):
        mask = scorer.sq_distance(rgb) <= scorer.max_sq_distance
        blobs.extend(b for b in category_blobs(rgb, mask, category, scorer, model.downsample)
                     if b.confidence >= model.min_confidence)
    return blobs
