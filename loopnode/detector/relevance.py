"""Relevance filter for `autoupload=filtered` (detector.md §10): decides which detected images are worth uploading.

Pure logic: no I/O, no threads, the caller passes the clock (monotonic seconds). One internal lock makes a
shared instance safe for concurrent request threads; a call takes microseconds, so the lock is never held long.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Union

if TYPE_CHECKING:
    from loopnode.data import ImageMetadata

UNCERTAIN = 'uncertain'
SEGMENTATION_DETECTION = 'segmentation_detection'
UNEXPECTED_OBSERVATIONS_COUNT = 'unexpected_observations_count'

HISTORY_MAX_AGE_S = 3600.0
"""Observations not seen for longer than this are forgotten, in every history (the camera-less one too)."""
BOX_IOU_THRESHOLD = 0.5
"""A box is similar to an observation of the same category when their IoU is at least this."""
POINT_DISTANCE_PX = 10.0
"""A point is similar to an observation of the same category when it is strictly closer than this."""
UNEXPECTED_COUNT = 80
"""At least this many detections (all kinds) in one image give `unexpected_observations_count`."""

Box = tuple[float, float, float, float]
"""(x, y, width, height): top-left corner and size in pixels."""
Point = tuple[float, float]
"""(x, y) in pixels."""


def box_iou(a: Box, b: Box) -> float:
    """Plain intersection over union of two (x, y, width, height) boxes; 0.0 when the union is empty."""
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    aw, ah, bw, bh = max(aw, 0.0), max(ah, 0.0), max(bw, 0.0), max(bh, 0.0)
    inter_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    inter_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    intersection = inter_w * inter_h
    union = aw * ah + bw * bh - intersection
    if union <= 0.0:
        return 0.0
    return intersection / union


def point_distance(a: Point, b: Point) -> float:
    """Euclidean distance of two (x, y) points in pixels."""
    return math.hypot(float(a[0]) - float(b[0]), float(a[1]) - float(b[1]))


@dataclass(slots=True)
class _BoxObservation:
    """A box seen recently on one camera; `right`/`bottom` are kept for a cheap no-overlap test."""

    box: Box
    right: float
    bottom: float
    last_seen: float

    @classmethod
    def of(cls, box: Box, now: float) -> _BoxObservation:
        x, y, width, height = (float(v) for v in box)
        width, height = max(width, 0.0), max(height, 0.0)
        return cls((x, y, width, height), x + width, y + height, now)

    def is_similar(self, other: _BoxObservation) -> bool:
        """IoU >= 0.5; boxes that do not overlap at all (IoU 0) are rejected without computing it."""
        if self.right <= other.box[0] or other.right <= self.box[0] \
                or self.bottom <= other.box[1] or other.bottom <= self.box[1]:
            return False
        return box_iou(self.box, other.box) >= BOX_IOU_THRESHOLD


@dataclass(slots=True)
class _PointObservation:
    """A point seen recently on one camera."""

    point: Point
    last_seen: float

    def is_similar(self, other: _PointObservation) -> bool:
        """Distance < 10 px; points 10 px apart on one axis are rejected without computing it."""
        dx, dy = abs(self.point[0] - other.point[0]), abs(self.point[1] - other.point[1])
        if dx >= POINT_DISTANCE_PX or dy >= POINT_DISTANCE_PX:
            return False
        return point_distance(self.point, other.point) < POINT_DISTANCE_PX


_Observation = Union[_BoxObservation, _PointObservation]


@dataclass
class _History:
    """The recent observations of one camera (or of all requests without a camera id), by kind and category.

    `oldest` is a lower bound of every `last_seen`, so aging can skip a history in which nothing can be too old.
    """

    boxes: dict[str, list[_BoxObservation]] = field(default_factory=dict)
    points: dict[str, list[_PointObservation]] = field(default_factory=dict)
    oldest: float = math.inf

    def __len__(self) -> int:
        return sum(len(group) for group in self.boxes.values()) + sum(len(group) for group in self.points.values())

    def forget_unseen(self, now: float, max_age_s: float) -> None:
        """Drop observations last seen more than `max_age_s` before `now`."""
        if now - self.oldest <= max_age_s:
            return
        self.oldest = math.inf
        for groups in (self.boxes, self.points):
            for category_name in list(groups):
                kept = [o for o in groups[category_name] if now - o.last_seen <= max_age_s]
                if kept:
                    groups[category_name] = kept  # type: ignore[assignment]
                    self.oldest = min(self.oldest, min(o.last_seen for o in kept))
                else:
                    del groups[category_name]

    def observe_box(self, category_name: str, box: Box, now: float) -> bool:
        """Refresh similar box observations, or store a new one; True if the box was new."""
        return self._observe(self.boxes, category_name, _BoxObservation.of(box, now), now)

    def observe_point(self, category_name: str, point: Point, now: float) -> bool:
        """Refresh similar point observations, or store a new one; True if the point was new."""
        return self._observe(self.points, category_name, _PointObservation((float(point[0]), float(point[1])), now),
                             now)

    def _observe(self, groups: dict[str, Any], category_name: str, new: _Observation, now: float) -> bool:
        group = groups.setdefault(category_name, [])
        similar = [o for o in group if o.is_similar(new)]
        for observation in similar:
            observation.last_seen = max(observation.last_seen, now)  # request threads may pass slightly older clocks
        if similar:
            return False
        group.append(new)
        self.oldest = min(self.oldest, now)
        return True


class RelevanceFilter:
    """Per-camera observation histories that pick images with new uncertain detections (detector.md §10)."""

    def __init__(self, min_uncertain: float, max_uncertain: float, max_age_s: float = HISTORY_MAX_AGE_S) -> None:
        if not max_age_s > 0:
            raise ValueError(f'max_age_s must be positive, got {max_age_s!r}')
        self.min_uncertain = float(min_uncertain)
        self.max_uncertain = float(max_uncertain)
        self.max_age_s = float(max_age_s)
        self._lock = threading.Lock()
        self._histories: dict[str | None, _History] = {}

    def causes(self, metadata: ImageMetadata, camera_id: str | None, now: float) -> list[str]:
        """Update the camera's history with this image's detections and return its upload causes (maybe empty).

        `now` is monotonic seconds. Causes are unique, in order of first occurrence, with
        `unexpected_observations_count` last. `metadata` is only read.
        """
        with self._lock:
            self._forget_unseen(now)
            history = self._histories.setdefault(camera_id, _History())
            found: list[str] = []
            for box in metadata.box_detections:
                box_tuple = (box.x, box.y, box.width, box.height)
                if history.observe_box(box.category_name, box_tuple, now) and self._is_uncertain(box.confidence):
                    found.append(UNCERTAIN)
            for point in metadata.point_detections:
                point_tuple = (point.x, point.y)
                if history.observe_point(point.category_name, point_tuple, now) \
                        and self._is_uncertain(point.confidence):
                    found.append(UNCERTAIN)
            if metadata.segmentation_detections:
                found.append(SEGMENTATION_DETECTION)
            if any(self._is_uncertain(c.confidence) for c in metadata.classification_detections):
                found.append(UNCERTAIN)
            if not history:
                del self._histories[camera_id]
            result = list(dict.fromkeys(found))
            if _detection_count(metadata) >= UNEXPECTED_COUNT:
                result.append(UNEXPECTED_OBSERVATIONS_COUNT)
            return result

    def clear(self) -> None:
        """Forget every history (soft_reload)."""
        with self._lock:
            self._histories.clear()

    def observation_count(self, camera_id: str | None = None) -> int:
        """Number of stored observations for one camera id (None: the camera-less history)."""
        with self._lock:
            history = self._histories.get(camera_id)
            return len(history) if history is not None else 0

    def camera_ids(self) -> list[str | None]:
        """Camera ids that currently have a non-empty history (None stands for the camera-less one)."""
        with self._lock:
            return list(self._histories)

    def _forget_unseen(self, now: float) -> None:
        """Age every history and drop the ones left empty, so unused camera ids do not pile up."""
        for camera_id in list(self._histories):
            history = self._histories[camera_id]
            history.forget_unseen(now, self.max_age_s)
            if not history:
                del self._histories[camera_id]

    def _is_uncertain(self, confidence: float) -> bool:
        return self.min_uncertain <= float(confidence) <= self.max_uncertain


def _detection_count(metadata: ImageMetadata) -> int:
    """Detections of all kinds in one image."""
    kinds: Iterable[list] = (metadata.box_detections, metadata.point_detections,
                             metadata.segmentation_detections, metadata.classification_detections)
    return sum(len(kind) for kind in kinds)
