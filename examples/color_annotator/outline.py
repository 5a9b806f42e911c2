"""Outline of a region (pure): trace its outer boundary on the pixel-corner grid, then simplify the polygon.

`trace_outline` follows the cracks between region and background with the region on the right, so the
polygon runs clockwise (y down) around the outer border through pixel corners; holes are ignored.
`simplify` is Douglas-Peucker on the closed polygon, with the tolerance doubled until at most `max_points`
vertices remain. `svg_path` formats a polygon as the `path` the Loop's UI overlays.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Point = tuple[int, int]

# direction -> ((dx, dy), pixel right of the edge, pixel left of the edge), pixels relative to the vertex
_EAST, _SOUTH, _WEST, _NORTH = 0, 1, 2, 3
_STEP = {_EAST: (1, 0), _SOUTH: (0, 1), _WEST: (-1, 0), _NORTH: (0, -1)}
_RIGHT_PIXEL = {_EAST: (0, 0), _SOUTH: (-1, 0), _WEST: (-1, -1), _NORTH: (0, -1)}
_LEFT_PIXEL = {_EAST: (0, -1), _SOUTH: (0, 0), _WEST: (-1, 0), _NORTH: (-1, -1)}


def trace_outline(mask: np.ndarray) -> list[Point]:
    """Corner points of the outer boundary of the region holding `mask`'s first set pixel (row-major)."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return []
    h, w = mask.shape

    def inside(px: int, py: int) -> bool:
        return 0 <= px < w and 0 <= py < h and bool(mask[py, px])

    def boundary(vx: int, vy: int, d: int) -> bool:
        rx, ry = _RIGHT_PIXEL[d]
        lx, ly = _LEFT_PIXEL[d]
        return inside(vx + rx, vy + ry) and not inside(vx + lx, vy + ly)

    start = (int(xs[0]), int(ys[0]))
    x, y, d = start[0], start[1], _EAST
    points: list[Point] = [start]
    limit = 4 * (h + 1) * (w + 1)
    for _ in range(limit):
        dx, dy = _STEP[d]
        x, y = x + dx, y + dy
        if (x, y) == start:
            break
        for turn in ((d + 1) % 4, d, (d + 3) % 4):  # right, straight, left: the region stays on the right
            if boundary(x, y, turn):
                if turn != d:
                    points.append((x, y))
                d = turn
                break
        else:  # cannot happen on a valid boundary; stop rather than loop
            break
    return points


def _perpendicular(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    length = math.hypot(float(ab[0]), float(ab[1]))
    if length == 0:
        return np.hypot(points[:, 0] - a[0], points[:, 1] - a[1])
    return np.abs(ab[0] * (points[:, 1] - a[1]) - ab[1] * (points[:, 0] - a[0])) / length


def _douglas_peucker(points: np.ndarray, epsilon: float) -> list[int]:
    """Indices kept of an open polyline (first and last always)."""
    keep = [0, len(points) - 1]
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        distances = _perpendicular(points[first + 1:last], points[first], points[last])
        k = int(np.argmax(distances))
        if distances[k] > epsilon:
            middle = first + 1 + k
            keep.append(middle)
            stack.extend([(first, middle), (middle, last)])
    return sorted(keep)


def simplify(polygon: Sequence[Point], max_points: int = 100, epsilon: float = 1.0) -> list[Point]:
    """The closed polygon with at most `max_points` vertices, as close as the doubling tolerance allows."""
    if max_points < 3:
        raise ValueError('max_points: expected at least 3')
    if len(polygon) <= 3:
        return list(polygon)
    array = np.asarray(polygon, dtype=np.float64)
    far = int(np.argmax(np.hypot(array[:, 0] - array[0, 0], array[:, 1] - array[0, 1])))
    closed = np.vstack([array, array[:1]])
    while True:
        first = _douglas_peucker(closed[:far + 1], epsilon)
        second = [far + i for i in _douglas_peucker(closed[far:], epsilon)]
        indices = sorted(set(first + second[:-1]))  # the closing point repeats the start
        if len(indices) <= max_points:
            return [tuple(int(v) for v in polygon[i]) for i in indices]  # type: ignore[misc]
        epsilon *= 2


def svg_path(polygon: Sequence[Point], color: str = '#00ff00') -> str:
    """A closed SVG path through the polygon (image pixel coordinates), or '' for no polygon."""
    if not polygon:
        return ''
    d = 'M ' + ' L '.join(f'{x} {y}' for x, y in polygon) + ' Z'
    return f'<path d="{d}" stroke="{color}" stroke-width="2" fill="{color}" fill-opacity="0.25"/>'
