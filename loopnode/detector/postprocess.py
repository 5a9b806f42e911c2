"""Model-independent post-processing for detector logics (detector.md §5.2, 0.27.0 parity).

Confidence filter, per-class non-maximum suppression, clipping to the image, and conversion of the surviving
predictions into the wire records (`ImageMetadata` for a detector, `Detections` for a trainer's detection pass).
"""
from __future__ import annotations

import logging
import operator
from typing import Iterable, NamedTuple, Union

import numpy as np

from loopnode.data import (BoxDetection, Category, Detections, ImageMetadata, ModelInformation,
                           PointDetection)

logger = logging.getLogger(__name__)

MIN_BOX_SIZE_PX = 2
"""Predictions whose width or height is at most this many pixels are skipped (too small to be useful)."""
NMS_EPSILON = 1e-16
"""Added to the IoU denominator in NMS so that degenerate boxes never divide by zero."""

Number = Union[int, float]


class Prediction(NamedTuple):
    """One prediction that survived `post_process`: top-left corner and size in pixels, class index, score."""

    x: int
    y: int
    width: int
    height: int
    category_index: int
    confidence: float


def category_by_index(model_info: ModelInformation, index: int) -> Category:
    """The category a model's class index refers to (`model_info.categories` is in model output order)."""
    categories = model_info.categories
    position = _as_index(index)
    if position is None or not 0 <= position < len(categories):
        raise ValueError(f'category index {index} is out of range for a model with {len(categories)} categories')
    return categories[position]


def category_by_name(model_info: ModelInformation, name: str) -> Category:
    """The first category whose name equals `name` exactly."""
    for category in model_info.categories:
        if category.name == name:
            return category
    known = ', '.join(category.name for category in model_info.categories)
    raise ValueError(f'unknown category name {name!r}; the model knows: {known}')


def clip_box(*, x1: Number, y1: Number, width: Number, height: Number,
             img_width: Number, img_height: Number) -> tuple[int, int, int, int]:
    """Clamp a box's corners into the image, round them to ints and return (x, y, width, height), sizes >= 0.

    Example: `clip_box(x1=-3.4, y1=5.6, width=200, height=10, img_width=100, img_height=50)` is (0, 6, 100, 10).
    """
    left = round(_clamp(x1, img_width))
    top = round(_clamp(y1, img_height))
    right = round(_clamp(float(x1) + float(width), img_width))
    bottom = round(_clamp(float(y1) + float(height), img_height))
    return left, top, max(0, right - left), max(0, bottom - top)


def clip_point(x: Number, y: Number, img_width: Number, img_height: Number) -> tuple[float, float]:
    """Clamp a point into [0, img_width] x [0, img_height]; floats."""
    return _clamp(x, img_width), _clamp(y, img_height)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, *, iou_threshold: float,
                        origin_h: int, origin_w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy per-class NMS on (x1, y1, x2, y2) boxes; returns the kept (boxes, scores, classes), best score first.

    Boxes are first clipped to x in [0, W-1] and y in [0, H-1]; a box is dropped when its IoU with a kept box of
    the same class is **greater** than `iou_threshold`. IoU uses the "+1 pixel" area convention (0.27.0 parity).
    The inputs are not modified.
    """
    boxes, scores, classes = _as_prediction_arrays(boxes, scores, classes)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, origin_w - 1)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, origin_h - 1)
    order = np.argsort(-scores, kind='stable')
    boxes, scores, classes = boxes[order], scores[order], classes[order]
    keep = np.zeros(len(scores), dtype=bool)
    for category in np.unique(classes):
        remaining = np.flatnonzero(classes == category)
        while remaining.size:
            best, rest = remaining[0], remaining[1:]
            keep[best] = True
            remaining = rest[_iou_plus_one(boxes[best], boxes[rest]) <= iou_threshold]
    return boxes[keep], scores[keep], classes[keep]


def post_process(boxes_xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, *, conf_threshold: float,
                 iou_threshold: float, origin_h: int, origin_w: int) -> list[Prediction]:
    """Keep predictions scoring **above** `conf_threshold`, run `non_max_suppression`, return `Prediction`s.

    As in 0.27.0, the corners and sizes are truncated to ints and the confidence is rounded to 2 decimals.
    """
    boxes, scores, classes = _as_prediction_arrays(boxes_xyxy, scores, classes)
    confident = scores > conf_threshold
    if not confident.any():
        return []
    kept_boxes, kept_scores, kept_classes = non_max_suppression(
        boxes[confident], scores[confident], classes[confident],
        iou_threshold=iou_threshold, origin_h=origin_h, origin_w=origin_w)
    predictions = []
    for (x1, y1, x2, y2), score, category in zip(kept_boxes, kept_scores, kept_classes):
        predictions.append(Prediction(x=int(x1), y=int(y1), width=int(x2 - x1), height=int(y2 - y1),
                                      category_index=int(category), confidence=round(float(score), 2)))
    return predictions


def to_image_metadata(predictions: Iterable[Prediction], model_info: ModelInformation,
                      im_height: int, im_width: int) -> ImageMetadata:
    """An `ImageMetadata` (what a detector logic returns) holding the box and point detections of `predictions`."""
    metadata = ImageMetadata()
    boxes, points = _detections_from(predictions, model_info, im_height, im_width)
    metadata.box_detections.extend(boxes)
    metadata.point_detections.extend(points)
    return metadata


def to_detections(predictions: Iterable[Prediction], model_info: ModelInformation, im_height: int, im_width: int,
                  image_id: str | None = None) -> Detections:
    """A `Detections` record (what a trainer's detection pass reports) for `predictions` on one image."""
    detections = Detections(image_id=image_id)
    boxes, points = _detections_from(predictions, model_info, im_height, im_width)
    detections.box_detections.extend(boxes)
    detections.point_detections.extend(points)
    return detections


def _detections_from(predictions: Iterable[Prediction], model_info: ModelInformation, im_height: int,
                     im_width: int) -> tuple[list[BoxDetection], list[PointDetection]]:
    """Resolve categories by index, skip tiny and unsupported predictions (one warning each), clip the rest."""
    boxes: list[BoxDetection] = []
    points: list[PointDetection] = []
    too_small: list[str] = []
    unsupported: list[str] = []
    for x, y, width, height, category_index, confidence in predictions:
        category = category_by_index(model_info, category_index)
        if width <= MIN_BOX_SIZE_PX or height <= MIN_BOX_SIZE_PX:
            too_small.append(f'{category.name} {width}x{height} at ({x}, {y})')
            continue
        kind = _category_type(category)
        if kind == 'box':
            box_x, box_y, box_w, box_h = clip_box(x1=x, y1=y, width=width, height=height,
                                                  img_width=im_width, img_height=im_height)
            boxes.append(BoxDetection(category_name=category.name, x=box_x, y=box_y, width=box_w, height=box_h,
                                      model_name=model_info.version, confidence=float(confidence),
                                      category_id=category.id))
        elif kind == 'point':
            point_x, point_y = clip_point(float(x) + float(width) / 2, float(y) + float(height) / 2,
                                          im_width, im_height)
            points.append(PointDetection(category_name=category.name, x=point_x, y=point_y,
                                         model_name=model_info.version, confidence=float(confidence),
                                         category_id=category.id))
        else:
            unsupported.append(f'{category.name} (type {kind})')
    if too_small:
        logger.warning('skipped %d predictions with width or height <= %d px: %s',
                       len(too_small), MIN_BOX_SIZE_PX, '; '.join(too_small))
    if unsupported:
        logger.warning('dropped %d predictions of categories that are neither box nor point: %s',
                       len(unsupported), ', '.join(unsupported))
    return boxes, points


def _category_type(category: Category) -> str | None:
    """The category's type as a plain string, whether data.py keeps it as str or as a str-valued enum."""
    kind = category.type
    return getattr(kind, 'value', kind)


def _clamp(value: Number, upper: Number) -> float:
    """`value` clamped into [0, upper], as a Python float."""
    return min(max(float(value), 0.0), float(upper))


def _as_index(index: object) -> int | None:
    """An int for ints, numpy ints and integral floats; None for anything else."""
    try:
        return operator.index(index)  # type: ignore[arg-type]
    except TypeError:
        pass
    if isinstance(index, (float, np.floating)) and float(index).is_integer():
        return int(index)
    return None


def _as_prediction_arrays(boxes: np.ndarray, scores: np.ndarray,
                          classes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of the inputs as an (N, 4) float box array and two length-N arrays; ValueError on bad shapes."""
    box_array = np.array(boxes, copy=True)
    if not np.issubdtype(box_array.dtype, np.floating):
        box_array = box_array.astype(np.float64)
    if box_array.size == 0:
        box_array = box_array.reshape(0, 4)
    if box_array.ndim != 2 or box_array.shape[1] != 4:
        raise ValueError(f'boxes must have shape (N, 4) as x1, y1, x2, y2; got {box_array.shape}')
    score_array = np.array(scores, copy=True).reshape(-1)
    class_array = np.array(classes, copy=True).reshape(-1)
    if not len(box_array) == len(score_array) == len(class_array):
        raise ValueError('boxes, scores and classes must have the same length; '
                         f'got {len(box_array)}, {len(score_array)} and {len(class_array)}')
    return box_array, score_array, class_array


def _iou_plus_one(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one (x1, y1, x2, y2) box with each of `others`, counting both edge pixels (+1) as in 0.27.0."""
    inter_w = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]) + 1, 0, None)
    inter_h = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]) + 1, 0, None)
    intersection = inter_w * inter_h
    area = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    other_areas = (others[:, 2] - others[:, 0] + 1) * (others[:, 3] - others[:, 1] + 1)
    return intersection / (area + other_areas - intersection + NMS_EPSILON)
