"""Magic-wand region growing (pure numpy): the pixels of similar colour connected to a clicked seed.

Similarity is the Euclidean distance in YCbCr to the mean colour of a small window around the seed, with
luma weighted down (shading changes luma more than hue). The tolerance grows with the drag distance from the
seed, so moving the mouse away widens the selection, as in common image editors.
"""
from __future__ import annotations

import numpy as np

from ..color_detector.blobs import as_rgb
from ..color_detector.colormodel import rgb_to_ycbcr
from ..color_detector.components import component_at

SEED_RADIUS = 2            # seed colour = mean of a (2r+1)^2 window
LUMA_WEIGHT = 0.5
BASE_TOLERANCE = 12.0      # at the click itself
TOLERANCE_PER_PIXEL = 0.25  # added per pixel of drag distance
MAX_TOLERANCE = 80.0


def tolerance_for_drag(seed: tuple[int, int], at: tuple[int, int]) -> float:
    """Colour tolerance for the mouse at `at` after a click at `seed`."""
    distance = float(np.hypot(at[0] - seed[0], at[1] - seed[1]))
    return min(MAX_TOLERANCE, BASE_TOLERANCE + TOLERANCE_PER_PIXEL * distance)


def seed_color(ycbcr: np.ndarray, x: int, y: int) -> np.ndarray:
    """Mean colour of the window around (x, y), clipped at the image border."""
    h, w = ycbcr.shape[:2]
    window = ycbcr[max(0, y - SEED_RADIUS):min(h, y + SEED_RADIUS + 1),
                   max(0, x - SEED_RADIUS):min(w, x + SEED_RADIUS + 1)]
    return window.reshape(-1, 3).mean(axis=0)


class WandImage:
    """One image prepared for repeated region growing (the colour conversion is done once per click)."""

    def __init__(self, image: np.ndarray) -> None:
        self.ycbcr = rgb_to_ycbcr(as_rgb(image)).astype(np.float32)
        self.ycbcr[:, :, 0] *= LUMA_WEIGHT
        self.height, self.width = self.ycbcr.shape[:2]

    def contains(self, x: int, y: int) -> bool:
        return 0 <= x < self.width and 0 <= y < self.height

    def distances(self, x: int, y: int) -> np.ndarray:
        """Colour distance of every pixel to the seed colour at (x, y)."""
        diff = self.ycbcr - seed_color(self.ycbcr, x, y)
        return np.sqrt(np.einsum('...k,...k->...', diff, diff))

    def region(self, x: int, y: int, tolerance: float, distances: np.ndarray | None = None) -> np.ndarray:
        """4-connected pixels within `tolerance` of the seed colour that contain the seed (boolean H x W)."""
        if not self.contains(x, y):
            raise ValueError(f'seed ({x}, {y}) is outside the {self.width}x{self.height} image')
        d = distances if distances is not None else self.distances(x, y)
        mask = d <= tolerance
        mask[y, x] = True  # the clicked pixel always belongs to its own selection
        return component_at(mask, x, y)
