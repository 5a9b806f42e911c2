"""The magic-wand gesture (pure): click seeds, drag previews, release commits, Escape cancels.

`WandGesture` holds one user's gesture. Each event returns the SVG preview; the release returns the
committed polygon (at most `MAX_POINTS` corners) as well. The AnnotatorLogic wraps it (`logic.py`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .outline import Point, simplify, svg_path, trace_outline
from .wand import WandImage, tolerance_for_drag

MAX_POINTS = 100


@dataclass
class Step:
    """What one event produced: the SVG preview ('' clears it) and, on release, the committed polygon."""

    svg: str = ''
    polygon: list[Point] | None = None


@dataclass
class WandGesture:
    """One frontend's state: the image prepared at the click, the seed and the current selection."""

    image: WandImage | None = None
    seed: tuple[int, int] | None = None
    distances: np.ndarray | None = None
    polygon: list[Point] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.seed is not None

    def press(self, image: np.ndarray, x: int, y: int, color: str = '#00ff00') -> Step:
        """Start a selection at (x, y) of `image` with the base tolerance."""
        self.image = WandImage(image)
        if not self.image.contains(x, y):
            self.cancel()
            return Step()
        self.seed = (x, y)
        self.distances = self.image.distances(x, y)
        return self._preview((x, y), color)

    def move(self, x: int, y: int, color: str = '#00ff00') -> Step:
        """Widen or narrow the selection by the drag distance; '' when no click started one."""
        if not self.active:
            return Step()
        return self._preview((x, y), color)

    def release(self, x: int, y: int) -> Step:
        """Commit the selection at the tolerance of (x, y): the polygon, and a cleared preview."""
        if not self.active:
            return Step()
        self._select((x, y))
        polygon = self.polygon if len(self.polygon) >= 3 else None
        self.cancel()
        return Step('', polygon)

    def cancel(self) -> None:
        self.image, self.seed, self.distances, self.polygon = None, None, None, []

    def _select(self, at: tuple[int, int]) -> None:
        assert self.image is not None and self.seed is not None
        region = self.image.region(self.seed[0], self.seed[1], tolerance_for_drag(self.seed, at), self.distances)
        self.polygon = simplify(trace_outline(region), MAX_POINTS)

    def _preview(self, at: tuple[int, int], color: str) -> Step:
        self._select(at)
        return Step(svg_path(self.polygon, color))
