"""Strict inbound parsing of loopnode.data records: every malformed input names its field path (loop-protocol §1)."""
from __future__ import annotations

import math
from typing import Any

import pytest

from loopnode.data import (AboutResponse, AnnotationData, BoxDetection, Category, DataError, DeploymentTarget,
                           Detections, DetectorStatus, ImageMetadata, ImagesMetadata, ModelInformation,
                           PointDetection, SegmentationAnnotation, SocketResponse, TrainingDetails, TrainingStatus,
                           UserInput, parse_shape)

BOX = {"category_name": "weed", "x": 1, "y": 2, "width": 3, "height": 4, "model_name": "1.1", "confidence": 0.5}
POINT = {"category_name": "crop", "x": 1.5, "y": 2.5, "model_name": "1.1", "confidence": 0.5}
MODEL = {"id": "m", "organization": "o", "project": "p", "version": "1.0"}
CATEGORY = {"id": "c", "name": "weed"}
ANNOTATION = {"coordinate": {"x": 1, "y": 2}, "event_type": "mouse_move",
              "context": {"organization": "o", "project": "p"}, "image_uuid": "i", "category": CATEGORY}


def meta_with_box(**change: Any) -> dict[str, Any]:
    """ImageMetadata whose 4th box detection (index 3) has the given changes."""
    return {"box_detections": [BOX, BOX, BOX, {**BOX, **change}]}


BAD_INPUT = [
    # (record, input, exact error message)
    pytest.param(BoxDetection, {k: v for k, v in BOX.items() if k != "width"}, "width: missing required field",
                 id="missing-required"),
    pytest.param(BoxDetection, {**BOX, "model_name": None}, "model_name: expected str, got None",
                 id="null-required"),
    pytest.param(ImageMetadata, meta_with_box(x="a"), "box_detections[3].x: expected int, got 'a'",
                 id="str-for-int-with-path"),
    pytest.param(PointDetection, {**POINT, "x": "1.5"}, "x: expected float, got '1.5'", id="str-for-float"),
    pytest.param(BoxDetection, {**BOX, "x": True}, "x: expected int, got True", id="bool-for-int"),
    pytest.param(PointDetection, {**POINT, "confidence": False}, "confidence: expected float, got False",
                 id="bool-for-float"),
    pytest.param(ImageMetadata, meta_with_box(y=2.5), "box_detections[3].y: expected int, got 2.5",
                 id="fractional-float-for-int"),
    pytest.param(PointDetection, {**POINT, "x": math.nan}, "x: expected float, got nan", id="nan-for-float"),
    pytest.param(BoxDetection, {**BOX, "category_id": 7}, "category_id: expected str, got 7",
                 id="int-for-optional-str"),
    pytest.param(ModelInformation, {**MODEL, "version": 1.1}, "version: expected str, got 1.1",
                 id="number-for-version"),
    pytest.param(DetectorStatus, {"uuid": "u", "name": "n", "state": "asleep", "uptime": 1, "model_format": "m",
                                  "errors": {}, "operation_mode": "idle"},
                 "state: expected one of 'idle', 'offline', 'online', 'preparing', 'running', 'stopping', "
                 "'detecting', 'uploading', got 'asleep'", id="bad-enum"),
    pytest.param(AboutResponse, {"operation_mode": 1, "state": "online", "version_control": "pause"},
                 "operation_mode: expected one of 'startup', 'idle', 'detecting', got 1", id="int-for-enum"),
    pytest.param(AnnotationData, {**ANNOTATION, "event_type": "double_click"},
                 "event_type: expected one of 'left_mouse_down', 'right_mouse_down', 'mouse_move', "
                 "'left_mouse_up', 'right_mouse_up', 'key_up', 'key_down', got 'double_click'", id="bad-event-type"),
    pytest.param(ImageMetadata, [{"x": 1}], "expected object, got [{'x': 1}]", id="list-at-top-level"),
    pytest.param(Category, "weed", "expected object, got 'weed'", id="str-at-top-level"),
    pytest.param(BoxDetection, None, "expected object, got None", id="none-at-top-level"),
    pytest.param(ImageMetadata, {"box_detections": {"x": 1}}, "box_detections: expected list, got {'x': 1}",
                 id="dict-where-list-expected"),
    pytest.param(ImageMetadata, {"box_detections": [BOX, [1, 2]]},
                 "box_detections[1]: expected object, got [1, 2]", id="list-where-record-expected"),
    pytest.param(ImageMetadata, {"tags": "a,b"}, "tags: expected list, got 'a,b'", id="str-for-list"),
    pytest.param(ImageMetadata, {"tags": ["a", 3]}, "tags[1]: expected str, got 3", id="bad-list-item"),
    pytest.param(ImageMetadata, {"classification_annotation": {"category_id": "c"}},
                 "classification_annotation.category_name: missing required field", id="nested-missing"),
    pytest.param(ImageMetadata, {"segmentation_detections": [{**POINT, "shape": [1, 2]}]},
                 "segmentation_detections[0].shape: expected Shape object or str, got [1, 2]", id="bad-shape"),
    pytest.param(ImageMetadata, {"segmentation_detections": [{**POINT, "shape": {"points": [{"x": 1, "y": 2},
                                                                                          {"x": 1.5, "y": 2}]}}]},
                 "segmentation_detections[0].shape.points[1].x: expected int, got 1.5", id="deep-shape-path"),
    pytest.param(ImagesMetadata, {"items": [{}, {"point_detections": [{**POINT, "y": None}]}]},
                 "items[1].point_detections[0].y: expected float, got None", id="batch-path"),
    pytest.param(ModelInformation, {**MODEL, "categories": [CATEGORY, {"id": "c2", "name": "n", "point_size": "3"}]},
                 "categories[1].point_size: expected int, got '3'", id="category-in-model"),
    pytest.param(ModelInformation, {**MODEL, "categories": None, "resolution": 800.5},
                 "resolution: expected int, got 800.5", id="fractional-resolution"),
    pytest.param(Category, {**CATEGORY, "type": 1}, "type: expected str, got 1", id="category-type-not-str"),
    pytest.param(TrainingStatus, {"id": "n", "name": "t", "state": "idle", "errors": {"prepare": 3},
                                  "pretrained_models": []}, "errors.prepare: expected str, got 3",
                 id="error-message-not-str"),
    pytest.param(TrainingStatus, {"id": "n", "name": "t", "state": "idle", "errors": {}, "pretrained_models": [],
                                  "context": {"organization": "o"}}, "context.project: missing required field",
                 id="nested-context"),
    pytest.param(TrainingDetails, {"categories": [], "training_number": "3", "model_variant": "",
                                   "hyperparameters": {}}, "training_number: expected int, got '3'",
                 id="training-number-str"),
    pytest.param(TrainingDetails, {"categories": [], "training_number": 3, "model_variant": "",
                                   "hyperparameters": []}, "hyperparameters: expected object, got []",
                 id="list-for-object"),
    pytest.param(UserInput, {"frontend_id": "f", "data": {**ANNOTATION, "coordinate": {"x": 1, "y": 2.2}}},
                 "data.coordinate.y: expected int, got 2.2", id="user-input-path"),
    pytest.param(UserInput, {"frontend_id": "f", "data": {**ANNOTATION, "is_shift_key_pressed": 1}},
                 "data.is_shift_key_pressed: expected bool, got 1", id="int-for-bool"),
    pytest.param(SocketResponse, {"success": "true"}, "success: expected bool, got 'true'", id="str-for-bool"),
    pytest.param(DeploymentTarget, {"model_uuid": "m"}, "version: missing required field",
                 id="target-version-key-required"),
    pytest.param(Detections, {"box_detections": []}, "image_id: missing required field", id="detections-image-id"),
    pytest.param(SegmentationAnnotation, {"id": "s", "shape": "1,2", "image_id": "i", "category_id": "c"},
                 "shape: expected object, got '1,2'", id="annotation-shape-must-be-object"),
]


@pytest.mark.parametrize(("cls", "value", "message"), BAD_INPUT)
def test_malformed_input_names_the_field(cls: type, value: Any, message: str) -> None:
    with pytest.raises(DataError) as caught:
        cls.from_dict(value)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_path_argument_prefixes_the_message() -> None:
    with pytest.raises(DataError, match=r"^items\[2\]\.x: expected int, got 'a'$"):
        BoxDetection.from_dict({**BOX, "x": "a"}, path="items[2]")
    with pytest.raises(DataError, match=r"^metadata: expected object, got 3$"):
        ImageMetadata.from_dict(3, path="metadata")


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(DataError) as caught:
        Category.from_dict({"id": "x" * 1000, "name": 5})
    assert str(caught.value) == "name: expected str, got 5"
    with pytest.raises(DataError) as caught:
        Category.from_dict({"id": ["x" * 1000], "name": "n"})
    assert len(str(caught.value)) < 120 and str(caught.value).endswith("...")


@pytest.mark.parametrize(("value", "expected"), [(3.0, 3), (-0.0, 0), (7, 7), (1e3, 1000)])
def test_integral_float_accepted_for_int(value: float, expected: int) -> None:
    box = BoxDetection.from_dict({**BOX, "width": value})
    assert box.width == expected and type(box.width) is int


@pytest.mark.parametrize("value", [0, 1, 250])
def test_int_accepted_for_float(value: int) -> None:
    point = PointDetection.from_dict({**POINT, "x": value, "confidence": 1})
    assert point.x == value and type(point.x) is float and type(point.confidence) is float


def test_round_ints_rounds_fractional_coordinates_everywhere() -> None:
    """Detector §3.4: locally uploaded metadata may carry float coordinates; they are rounded to ints."""
    metadata = {"box_detections": [{**BOX, "x": 1.4, "y": 1.6, "width": 10.5, "height": 3.0}],
                "box_annotations": [{"category_name": "w", "x": 2.7, "y": -1.2, "width": 1, "height": 1}],
                "segmentation_detections": [{**POINT, "shape": {"points": [{"x": 0.4, "y": 99.9}]}}],
                "point_detections": [{**POINT, "x": 1.25}]}
    meta = ImageMetadata.from_dict(metadata, round_ints=True)
    box = meta.box_detections[0]
    assert (box.x, box.y, box.width, box.height) == (1, 2, 10, 3)  # round(): halves go to even
    assert all(type(v) is int for v in (box.x, box.y, box.width, box.height))
    assert (meta.box_annotations[0].x, meta.box_annotations[0].y) == (3, -1)
    assert meta.segmentation_detections[0].shape.to_dict() == {"points": [{"x": 0, "y": 100}]}
    assert meta.point_detections[0].x == 1.25  # floats stay floats
    with pytest.raises(DataError, match=r"^box_detections\[0\]\.x: expected int, got 1\.4$"):
        ImageMetadata.from_dict(metadata)


@pytest.mark.parametrize("value", ["1", True, math.inf, math.nan, None])
def test_round_ints_still_rejects_non_numbers(value: Any) -> None:
    with pytest.raises(DataError, match=r"^x: expected int, got "):
        BoxDetection.from_dict({**BOX, "x": value}, round_ints=True)


@pytest.mark.parametrize(("text", "message"), [
    ("1,2,3", "shape: expected an even number of comma separated coordinates, got '1,2,3'"),
    ("1,a", "shape[1]: expected int, got 'a'"),
    ("1,2.5", "shape[1]: expected int, got 2.5"),
])
def test_parse_shape_rejects_malformed_text(text: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        parse_shape(text, path="shape")
    assert str(caught.value) == message
