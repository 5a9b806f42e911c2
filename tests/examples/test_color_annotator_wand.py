"""The magic wand's pure parts: region growing, outline tracing, polygon simplification, the gesture."""
from __future__ import annotations

import numpy as np
import pytest

from loopnode.devloop.seed import demo_categories
from loopnode.examples.color_annotator.outline import simplify, svg_path, trace_outline
from loopnode.examples.color_annotator.tool import MAX_POINTS, WandGesture
from loopnode.examples.color_annotator.wand import WandImage, tolerance_for_drag
from loopnode.examples.color_detector.components import component_at
from loopnode.examples.color_detector.fit import demo_samples


def _polygon_mask(polygon: list[tuple[int, int]], h: int, w: int) -> np.ndarray:
    """Pixels whose centres lie inside the polygon (even-odd rule), for checking outlines."""
    yy, xx = np.mgrid[0:h, 0:w]
    px, py = xx + 0.5, yy + 0.5
    inside = np.zeros((h, w), dtype=bool)
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1]):
        if y0 == y1:
            continue
        crosses = ((y0 <= py) & (py < y1)) | ((y1 <= py) & (py < y0))
        x_at = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (px < x_at)
    return inside


def test_outline_of_an_l_shape_runs_through_its_corners() -> None:
    """A rectangle with a 1-pixel foot: the traced polygon goes clockwise through the six corners."""
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:5, 3:7] = True
    mask[5, 6] = True
    assert trace_outline(mask) == [(3, 2), (7, 2), (7, 6), (6, 6), (6, 5), (3, 5)]
    assert trace_outline(np.zeros((3, 3), dtype=bool)) == []
    single = np.zeros((3, 3), dtype=bool)
    single[1, 1] = True
    assert trace_outline(single) == [(1, 1), (2, 1), (2, 2), (1, 2)]


def test_traced_outline_encloses_exactly_the_region() -> None:
    """The unsimplified outline of a blob with a bay, touching the image border, rasterises back to it."""
    yy, xx = np.ogrid[0:60, 0:80]
    mask = ((xx - 30) ** 2 + (yy - 30) ** 2 < 28 ** 2) & ~((xx > 30) & (abs(yy - 30) < 5))
    mask[:, :4] = True  # joins the circle and touches the image border
    region = component_at(mask, 30, 10)
    assert region[:, 0].all()
    polygon = trace_outline(region)
    assert np.array_equal(_polygon_mask(polygon, 60, 80), region)


def test_simplify_keeps_at_most_100_points_and_the_shape() -> None:
    """A circle of radius 150 (over 1,000 corners) simplifies to <= 100 points with IoU > 0.97 to the region."""
    yy, xx = np.ogrid[0:480, 0:640]
    region = (xx - 320) ** 2 + (yy - 240) ** 2 < 150 ** 2
    outline = trace_outline(region)
    assert len(outline) > 400
    polygon = simplify(outline, 100)
    assert 3 <= len(polygon) <= 100
    filled = _polygon_mask(polygon, 480, 640)
    assert (filled & region).sum() / (filled | region).sum() > 0.97
    assert simplify(outline[:3]) == outline[:3]
    with pytest.raises(ValueError):
        simplify(outline, 2)
    assert svg_path([(1, 2), (3, 4), (5, 6)]).startswith('<path d="M 1 2 L 3 4 L 5 6 Z"')


def test_the_wand_selects_a_generated_box_and_nothing_of_the_background() -> None:
    """Runs on devloop's images: a click in a generated shape selects it: inside its annotated box (2 px of JPEG
    fuzz allowed) and covering over 70 % of it (shapes may be ellipses, π/4 of their box)."""
    sample = demo_samples(demo_categories(), 1, 11)[0]
    _, x, y, w, h = sample.boxes[0]
    wand = WandImage(sample.image)
    region = wand.region(x + w // 2, y + h // 2, tolerance_for_drag((0, 0), (0, 0)))
    near_box = np.zeros(region.shape, dtype=bool)
    near_box[max(0, y - 2):y + h + 2, max(0, x - 2):x + w + 2] = True
    assert not (region & ~near_box).any()
    assert region.sum() > 0.7 * w * h
    with pytest.raises(ValueError):
        wand.region(-1, 0, 10.0)


def test_gesture_click_drag_release_commits_a_polygon_and_escape_cancels() -> None:
    """Click → a path preview; moving away widens the tolerance; release → the polygon (<= 100 points) and
    an empty preview; a move without a click, or after a cancel, shows nothing."""
    sample = demo_samples(demo_categories(), 1, 11)[0]
    _, x, y, w, h = sample.boxes[0]
    cx, cy = x + w // 2, y + h // 2
    gesture = WandGesture()
    assert gesture.move(cx, cy).svg == ''
    first = gesture.press(sample.image, cx, cy)
    assert first.svg.startswith('<path d="M ') and first.polygon is None
    assert tolerance_for_drag((cx, cy), (cx + 40, cy)) > tolerance_for_drag((cx, cy), (cx, cy))
    assert gesture.move(cx + 3, cy).svg.startswith('<path')
    done = gesture.release(cx + 3, cy)
    assert done.svg == '' and done.polygon is not None and 3 <= len(done.polygon) <= MAX_POINTS
    xs, ys = [p[0] for p in done.polygon], [p[1] for p in done.polygon]
    assert abs(min(xs) - x) <= 3 and abs(max(xs) - (x + w)) <= 3 and abs(min(ys) - y) <= 3
    assert not gesture.active and gesture.move(cx, cy).svg == ''
    gesture.press(sample.image, cx, cy)
    gesture.cancel()
    assert gesture.release(cx, cy).polygon is None
    assert gesture.press(sample.image, 10_000, 5).svg == ''
