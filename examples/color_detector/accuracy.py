"""Precision and recall of detections against annotations (pure): boxes by IoU, points by distance."""
from __future__ import annotations

import math
from dataclasses import dataclass

from loopnode.data import ImageMetadata

from .fit import Sample

MIN_IOU = 0.5
MAX_POINT_DISTANCE = 10.0


@dataclass
class Tally:
    """Counts of true positives, false positives and false negatives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two (x, y, width, height) boxes in continuous pixel coordinates."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _greedy(pairs: list[tuple[float, int, int]], n_truth: int, n_found: int, tally: Tally) -> None:
    """Match best-first (pairs sorted by quality); each truth and each detection is used once."""
    used_truth: set[int] = set()
    used_found: set[int] = set()
    for _, t, f in sorted(pairs):
        if t not in used_truth and f not in used_found:
            used_truth.add(t)
            used_found.add(f)
    tally.tp += len(used_truth)
    tally.fn += n_truth - len(used_truth)
    tally.fp += n_found - len(used_found)


def tally_image(sample: Sample, result: ImageMetadata, boxes: Tally, points: Tally) -> None:
    """Add one image's matches: same category id, IoU >= MIN_IOU (boxes), distance < MAX_POINT_DISTANCE (points)."""
    pairs = [(-box_iou((bx, by, bw, bh), (d.x, d.y, d.width, d.height)), t, f)
             for t, (cid, bx, by, bw, bh) in enumerate(sample.boxes)
             for f, d in enumerate(result.box_detections) if d.category_id == cid]
    _greedy([p for p in pairs if -p[0] >= MIN_IOU], len(sample.boxes), len(result.box_detections), boxes)
    pairs = [(math.hypot(px - d.x, py - d.y), t, f)
             for t, (cid, px, py) in enumerate(sample.points)
             for f, d in enumerate(result.point_detections) if d.category_id == cid]
    _greedy([p for p in pairs if p[0] < MAX_POINT_DISTANCE], len(sample.points), len(result.point_detections),
            points)
