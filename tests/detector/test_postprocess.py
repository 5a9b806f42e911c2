"""Unit tests of the 0.27.0-parity post-processing utilities (detector.md §5.2)."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from loopnode.data import BoxDetection, Category, Detections, ImageMetadata, ModelInformation, PointDetection
from loopnode.detector.postprocess import (Prediction, category_by_index, category_by_name, clip_box, clip_point,
                                           non_max_suppression, post_process, to_detections, to_image_metadata)


def model_info(categories: list[Category] | None = None) -> ModelInformation:
    if categories is None:
        categories = [Category(id='weed-id', name='weed', type='box'),
                      Category(id='crop-id', name='crop', type='point'),
                      Category(id='soil-id', name='soil', type='segmentation')]
    return ModelInformation(id='model-uuid', organization='zauberzeug', project='demo', version='1.2',
                            categories=categories)


# --- categories -----------------------------------------------------------------------------------------------


def test_category_by_index() -> None:
    """§5.2: `categories[i]`, also for numpy integer indices."""
    info = model_info()
    assert category_by_index(info, 0).name == 'weed'
    assert category_by_index(info, np.int64(2)).name == 'soil'


@pytest.mark.parametrize('index', [3, 10, -1])
def test_category_by_index_out_of_range(index: int) -> None:
    """§5.2: out of range -> ValueError with the exact message (negative indices are out of range too)."""
    with pytest.raises(ValueError) as error:
        category_by_index(model_info(), index)
    assert str(error.value) == f'category index {index} is out of range for a model with 3 categories'


def test_category_by_name_first_exact_match() -> None:
    """§5.2: the first category with exactly that name."""
    info = model_info([Category(id='a1', name='a'), Category(id='b1', name='b'), Category(id='a2', name='a')])
    assert category_by_name(info, 'a').id == 'a1'
    assert category_by_name(info, 'b').id == 'b1'


def test_category_by_name_unknown() -> None:
    """§5.2: no match -> ValueError("unknown category name 'x'; the model knows: a, b"); matching is exact."""
    info = model_info([Category(id='a1', name='a'), Category(id='b1', name='b')])
    with pytest.raises(ValueError) as error:
        category_by_name(info, 'x')
    assert str(error.value) == "unknown category name 'x'; the model knows: a, b"
    with pytest.raises(ValueError):
        category_by_name(info, 'A')


# --- clipping -------------------------------------------------------------------------------------------------


def test_clip_box_spec_example() -> None:
    """§5.2: (-3.4, 5.6, 200, 10) in 100x50 -> (0, 6, 100, 10), as Python ints."""
    clipped = clip_box(x1=-3.4, y1=5.6, width=200, height=10, img_width=100, img_height=50)
    assert clipped == (0, 6, 100, 10)
    assert all(type(v) is int for v in clipped)


def test_clip_box_inside_is_only_rounded() -> None:
    assert clip_box(x1=10.2, y1=20.7, width=30.1, height=5.0, img_width=100, img_height=50) == (10, 21, 30, 5)


def test_clip_box_outside_gives_zero_sizes() -> None:
    """§5.2: sizes never go below 0, also for a box entirely outside or with a negative size."""
    assert clip_box(x1=150, y1=60, width=20, height=20, img_width=100, img_height=50) == (100, 50, 0, 0)
    assert clip_box(x1=-50, y1=-50, width=20, height=20, img_width=100, img_height=50) == (0, 0, 0, 0)
    assert clip_box(x1=40, y1=10, width=-5, height=-5, img_width=100, img_height=50) == (40, 10, 0, 0)


def test_clip_box_accepts_numpy_values() -> None:
    clipped = clip_box(x1=np.float32(-1.0), y1=np.float64(2.4), width=np.int64(10), height=np.float32(3.0),
                       img_width=np.int64(100), img_height=50)
    assert clipped == (0, 2, 9, 3)
    assert all(type(v) is int for v in clipped)


def test_clip_point() -> None:
    """§5.2: clamp to [0, W] x [0, H]; floats."""
    assert clip_point(-5, 60, 100, 50) == (0.0, 50.0)
    assert clip_point(120.5, -0.1, 100, 50) == (100.0, 0.0)
    inside = clip_point(np.float32(12.5), 7, 100, 50)
    assert inside == (12.5, 7.0)
    assert all(type(v) is float for v in inside)


# --- NMS and post_process -------------------------------------------------------------------------------------


def test_nms_drops_overlapping_box_of_same_class_only() -> None:
    """§5.2: greedy per class; the better-scoring box wins; a box of another class at the same place stays."""
    boxes = np.array([[10, 10, 50, 50], [12, 12, 52, 52], [11, 11, 51, 51], [200, 200, 240, 240]], dtype=np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.5], dtype=np.float32)
    classes = np.array([0, 0, 1, 0])
    kept_boxes, kept_scores, kept_classes = non_max_suppression(boxes, scores, classes, iou_threshold=0.45,
                                                                origin_h=480, origin_w=640)
    assert kept_scores.tolist() == pytest.approx([0.9, 0.8, 0.5])
    assert kept_classes.tolist() == [0, 1, 0]
    assert kept_boxes.tolist() == [[12, 12, 52, 52], [11, 11, 51, 51], [200, 200, 240, 240]]


def test_nms_drops_only_iou_strictly_above_threshold() -> None:
    """§5.2: IoU with the +1 pixel convention: (0,0,9,9) and (0,0,9,4) overlap with IoU exactly 50/100 = 0.5,
    which is kept at threshold 0.5 and dropped at 0.49."""
    boxes = np.array([[0, 0, 9, 9], [0, 0, 9, 4]], dtype=np.float64)
    scores = np.array([0.9, 0.8])
    classes = np.array([3, 3])
    _, kept, _ = non_max_suppression(boxes, scores, classes, iou_threshold=0.5, origin_h=100, origin_w=100)
    assert kept.tolist() == [0.9, 0.8]
    _, kept, _ = non_max_suppression(boxes, scores, classes, iou_threshold=0.49, origin_h=100, origin_w=100)
    assert kept.tolist() == [0.9]


def test_nms_clips_to_last_pixel_and_keeps_inputs() -> None:
    """§5.2: x is clipped to [0, W-1] and y to [0, H-1] before suppression; the caller's arrays are untouched."""
    boxes = np.array([[-5.0, -3.0, 700.0, 500.0]])
    original = boxes.copy()
    kept_boxes, _, _ = non_max_suppression(boxes, np.array([0.7]), np.array([0]), iou_threshold=0.5,
                                           origin_h=480, origin_w=640)
    assert kept_boxes.tolist() == [[0.0, 0.0, 639.0, 479.0]]
    assert np.array_equal(boxes, original)


def test_nms_output_sorted_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [100, 0, 110, 10], [200, 0, 210, 10]], dtype=np.float32)
    _, scores, classes = non_max_suppression(boxes, np.array([0.2, 0.9, 0.5]), np.array([0, 1, 2]),
                                             iou_threshold=0.5, origin_h=50, origin_w=300)
    assert scores.tolist() == [0.9, 0.5, 0.2]
    assert classes.tolist() == [1, 2, 0]


def test_nms_empty_and_bad_shapes() -> None:
    boxes, scores, classes = non_max_suppression(np.zeros((0, 4)), np.zeros(0), np.zeros(0), iou_threshold=0.5,
                                                 origin_h=10, origin_w=10)
    assert boxes.shape == (0, 4) and scores.size == 0 and classes.size == 0
    with pytest.raises(ValueError, match='same length'):
        non_max_suppression(np.zeros((2, 4)), np.zeros(3), np.zeros(2), iou_threshold=0.5, origin_h=10, origin_w=10)
    with pytest.raises(ValueError, match=r'shape \(N, 4\)'):
        non_max_suppression(np.zeros((2, 5)), np.zeros(2), np.zeros(2), iou_threshold=0.5, origin_h=10, origin_w=10)


def test_post_process_keeps_scores_strictly_above_threshold() -> None:
    """§5.2: keep score > conf_threshold (a score equal to it is dropped), then NMS, then Predictions."""
    boxes = np.array([[10.7, 20.2, 60.9, 80.5], [300, 300, 350, 350], [12, 22, 62, 82]], dtype=np.float64)
    scores = np.array([0.876, 0.5, 0.7])
    classes = np.array([1.0, 0.0, 1.0])
    predictions = post_process(boxes, scores, classes, conf_threshold=0.5, iou_threshold=0.45,
                               origin_h=480, origin_w=640)
    assert predictions == [Prediction(x=10, y=20, width=50, height=60, category_index=1, confidence=0.88)]
    prediction = predictions[0]
    assert type(prediction.x) is int and type(prediction.category_index) is int
    assert type(prediction.confidence) is float
    x, y, width, height, category_index, confidence = prediction
    assert (x, y, width, height, category_index, confidence) == (10, 20, 50, 60, 1, 0.88)


def test_post_process_nothing_confident() -> None:
    assert post_process(np.array([[0, 0, 5, 5]]), np.array([0.1]), np.array([0]), conf_threshold=0.2,
                        iou_threshold=0.5, origin_h=10, origin_w=10) == []
    assert post_process(np.zeros((0, 4)), np.zeros(0), np.zeros(0), conf_threshold=0.2, iou_threshold=0.5,
                        origin_h=10, origin_w=10) == []


# --- conversion -----------------------------------------------------------------------------------------------


def test_to_image_metadata_boxes_and_points() -> None:
    """§5.2: box categories -> BoxDetection via clip_box, point categories -> PointDetection at the centre via
    clip_point; category and model version filled in."""
    predictions = [Prediction(x=-4, y=10, width=50, height=20, category_index=0, confidence=0.8),
                   Prediction(x=90, y=40, width=30, height=20, category_index=1, confidence=0.7)]
    metadata = to_image_metadata(predictions, model_info(), im_height=50, im_width=100)
    assert isinstance(metadata, ImageMetadata)
    assert metadata.box_detections == [BoxDetection(category_name='weed', x=0, y=10, width=46, height=20,
                                                    model_name='1.2', confidence=0.8, category_id='weed-id')]
    assert metadata.point_detections == [PointDetection(category_name='crop', x=100.0, y=50.0, model_name='1.2',
                                                        confidence=0.7, category_id='crop-id')]
    assert metadata.segmentation_detections == [] and metadata.classification_detections == []


def test_to_image_metadata_point_at_centre_inside() -> None:
    metadata = to_image_metadata([Prediction(10, 20, 5, 7, 1, 0.5)], model_info(), im_height=50, im_width=100)
    assert [(p.x, p.y) for p in metadata.point_detections] == [(12.5, 23.5)]


def test_to_image_metadata_skips_tiny_predictions_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """§5.2: width or height <= 2 px is skipped, with one warning for all of them."""
    predictions = [Prediction(10, 10, 2, 30, 0, 0.9), Prediction(10, 10, 30, 2, 1, 0.9),
                   Prediction(10, 10, 3, 3, 0, 0.9)]
    with caplog.at_level(logging.WARNING, logger='loopnode.detector.postprocess'):
        metadata = to_image_metadata(predictions, model_info(), im_height=50, im_width=100)
    assert [(b.width, b.height) for b in metadata.box_detections] == [(3, 3)]
    assert metadata.point_detections == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and 'skipped 2 predictions' in warnings[0].getMessage()


def test_to_image_metadata_drops_other_types_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """§5.2: categories that are neither box nor point (segmentation, untyped) are dropped with a warning."""
    info = model_info([Category(id='w', name='weed', type='box'), Category(id='s', name='soil', type='segmentation'),
                       Category(id='u', name='untyped')])
    predictions = [Prediction(0, 0, 10, 10, 1, 0.9), Prediction(0, 0, 10, 10, 2, 0.9), Prediction(0, 0, 10, 10, 0, 0.9)]
    with caplog.at_level(logging.WARNING, logger='loopnode.detector.postprocess'):
        metadata = to_image_metadata(predictions, info, im_height=50, im_width=100)
    assert [b.category_name for b in metadata.box_detections] == ['weed']
    assert metadata.point_detections == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and 'soil' in warnings[0] and 'untyped' in warnings[0]


def test_to_image_metadata_unknown_index_raises() -> None:
    with pytest.raises(ValueError, match='category index 7 is out of range for a model with 3 categories'):
        to_image_metadata([Prediction(0, 0, 10, 10, 7, 0.9)], model_info(), im_height=50, im_width=100)


def test_to_detections_with_image_id() -> None:
    """§5.2: the same conversion into a Detections record, with the optional image id."""
    predictions = [Prediction(5, 5, 20, 20, 0, 0.6), Prediction(40, 10, 10, 10, 1, 0.4)]
    detections = to_detections(predictions, model_info(), 50, 100, image_id='img-1')
    assert isinstance(detections, Detections)
    assert detections.image_id == 'img-1'
    assert [(b.x, b.y, b.width, b.height, b.category_id) for b in detections.box_detections] == \
        [(5, 5, 20, 20, 'weed-id')]
    assert [(p.x, p.y, p.model_name) for p in detections.point_detections] == [(45.0, 15.0, '1.2')]
    assert to_detections([], model_info(), 50, 100).image_id is None


def test_post_process_to_image_metadata_end_to_end() -> None:
    """A logic's typical pipeline: raw xyxy output -> post_process -> to_image_metadata."""
    boxes = np.array([[600.0, 400.0, 700.0, 520.0], [602.0, 401.0, 701.0, 519.0], [5.0, 5.0, 6.0, 6.0]])
    predictions = post_process(boxes, np.array([0.9, 0.8, 0.95]), np.array([0, 0, 0]), conf_threshold=0.25,
                               iou_threshold=0.45, origin_h=480, origin_w=640)
    metadata = to_image_metadata(predictions, model_info(), im_height=480, im_width=640)
    assert [(b.x, b.y, b.width, b.height, b.confidence) for b in metadata.box_detections] == \
        [(600, 400, 39, 79, 0.9)]
