"""Round trips and key order of every wire record in loopnode.data (loop-protocol §1, §7; detector §4)."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

import loopnode.data as data
from loopnode.data import (AboutResponse, BoxDetection, Category, CategoryType, DetectorStatus, ImageMetadata,
                           ModelInformation, NodeState, OperationMode, Point, SegmentationDetection, Shape,
                           SocketResponse, flatten_shape, parse_shape)

CATEGORY = {"id": "3c5d9e2a-0000-4000-8000-000000000001", "name": "weed", "description": "any weed",
            "hotkey": "w", "color": "#FF00FF", "point_size": 12, "type": "box"}
CONTEXT = {"organization": "zauberzeug", "project": "demo"}
BOX = {"category_name": "weed", "x": 120, "y": 64, "width": 40, "height": 38, "model_name": "1.1",
       "confidence": 0.42, "category_id": "3c5d"}
POINT = {"category_name": "crop", "x": 300.5, "y": 210.0, "model_name": "1.1", "confidence": 0.91,
         "category_id": "8a1f"}
SHAPE = {"points": [{"x": 10, "y": 10}, {"x": 60, "y": 10}, {"x": 60, "y": 40}]}
SEGMENTATION = {"category_name": "soil", "shape": "10,10,60,10,60,40", "model_name": "1.1", "confidence": 0.77,
                "category_id": "b2e0"}
CLASSIFICATION = {"category_name": "dry", "model_name": "1.1", "confidence": 0.5, "category_id": None}
MODEL_INFO = {"id": "00000000-0000-4000-8000-00000000abcd", "host": "learning-loop.ai", "organization": "zauberzeug",
              "project": "demo", "version": "1.1", "categories": [CATEGORY], "resolution": 800,
              "model_root_path": "/data/models/1.1", "model_size": "s6", "conf_threshold": 0.31}
IMAGE_METADATA = {
    "box_detections": [BOX], "point_detections": [POINT],
    "segmentation_detections": [SEGMENTATION, dict(SEGMENTATION, shape=SHAPE)],
    "classification_detections": [CLASSIFICATION],
    "box_annotations": [{"category_name": "weed", "x": 1, "y": 2, "width": 3, "height": 4, "category_id": None}],
    "point_annotations": [{"category_name": "crop", "x": 1.5, "y": 2.5, "category_id": "8a1f"}],
    "classification_annotation": {"category_name": "dry", "category_id": "c0"},
    "tags": ["field_a", "picked_by_system"], "created": "2025-06-01T10:00:00", "source": "robot-7", "state": "trash",
}
PRETRAINED = {"name": "small", "label": "Small", "description": "a small model"}

# One realistic, complete example per record; keys written in spec table order.
EXAMPLES: dict[type, dict[str, Any]] = {
    data.Category: CATEGORY,
    data.Context: CONTEXT,
    data.ModelInformation: MODEL_INFO,
    data.BoxDetection: BOX,
    data.PointDetection: POINT,
    data.SegmentationDetection: SEGMENTATION,
    data.ClassificationDetection: CLASSIFICATION,
    data.Point: {"x": 3, "y": 4},
    data.Shape: SHAPE,
    data.Detections: {"box_detections": [BOX], "point_detections": [POINT],
                      "segmentation_detections": [dict(SEGMENTATION, shape=SHAPE)],
                      "classification_detections": [CLASSIFICATION], "image_id": "img-1"},
    data.BoxAnnotation: IMAGE_METADATA["box_annotations"][0],
    data.PointAnnotation: IMAGE_METADATA["point_annotations"][0],
    data.ClassificationAnnotation: IMAGE_METADATA["classification_annotation"],
    data.ImageMetadata: IMAGE_METADATA,
    data.ImagesMetadata: {"items": [IMAGE_METADATA, IMAGE_METADATA]},
    data.PretrainedModel: PRETRAINED,
    data.TrainingStatus: {"id": "node-uuid", "name": "trainer-1", "state": "running", "uptime": 12.5,
                          "errors": {"upload_model": "HTTP 500"}, "progress": 0.3,
                          "pretrained_models": [PRETRAINED], "architecture": "mocked", "context": CONTEXT},
    data.TrainingOut: {"trainer_id": "node-uuid", "trainer_name": "trainer-1",
                       "confusion_matrix": {"3c5d": {"tp": 3, "fp": 1, "fn": 0}}, "train_image_count": 10,
                       "test_image_count": 2, "hyperparameters": {"epochs": 3}, "best_epoch": 2},
    data.DetectorStatus: {"uuid": "node-uuid", "name": "det-1", "state": "online", "uptime": 42,
                          "model_format": "mocked", "current_model": "1.1", "target_model": "1.2",
                          "errors": {"update_model": "Could not update model: boom"}, "operation_mode": "idle",
                          "node_version": "0.27.0"},
    data.AnnotationNodeStatus: {"id": "node-uuid", "name": "annotator", "state": "online", "uptime": 7,
                                "errors": {}, "capabilities": ["segmentation"]},
    data.TrainingDetails: {"categories": [CATEGORY], "training_number": 3, "model_variant": "small",
                           "hyperparameters": {"resolution": 800, "flip_rl": False}, "base_model_uuid": None},
    data.SegmentationAnnotation: {"id": "seg-1", "shape": SHAPE, "image_id": "img-1", "category_id": "b2e0"},
    data.Coordinate: {"x": 5, "y": 6},
    data.AnnotationData: {"coordinate": {"x": 5, "y": 6}, "event_type": "left_mouse_down", "context": CONTEXT,
                          "image_uuid": "img-1", "category": CATEGORY, "key_up": None, "key_down": "Enter",
                          "epsilon": 0.5, "is_shift_key_pressed": False},
    data.UserInput: {"frontend_id": "f1", "data": {
        "coordinate": {"x": 5, "y": 6}, "event_type": "key_up", "context": CONTEXT, "image_uuid": "img-1",
        "category": CATEGORY, "key_up": "Escape", "key_down": None, "epsilon": None, "is_shift_key_pressed": True}},
    data.SocketResponse: {"success": False, "error_msg": "refused", "payload": {"any": ["thing"]}},
    data.ModelListEntry: {"id": "m1", "version": "1.2", "formats": ["mocked", "yolov5_wts"],
                          "created": "2025-06-01T10:00:00", "comment": None, "host": "learning-loop.ai"},
    data.DeploymentTarget: {"model_uuid": "m1", "version": "1.2"},
    data.AboutResponse: {"operation_mode": "detecting", "state": "online", "model_info": MODEL_INFO,
                         "target_model": "1.2", "version_control": "follow_loop",
                         "errors": {"update_model": "Could not update model: boom"}},
    data.ModelVersionResponse: {"current_version": "1.1", "target_version": "None", "loop_version": "1.2",
                                "local_versions": ["1.1", "1.10"], "version_control": "specific_version"},
    data.TrainingStateData: {"confusion_matrix": {"3c5d": {"tp": 1, "fp": 0, "fn": 2}},
                             "meta_information": {"weights": "/tmp/w.pt"}, "epoch": 4},
}


def test_every_public_record_has_an_example() -> None:
    records = {obj for name in data.__all__ if isinstance(obj := getattr(data, name), type) and
               hasattr(obj, "from_dict")}
    assert records == set(EXAMPLES)


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_round_trip_keeps_every_key_in_spec_order(cls: type) -> None:
    example = EXAMPLES[cls]
    original = copy.deepcopy(example)
    out = cls.from_dict(example).to_dict()
    assert out == example
    assert json.dumps(out) == json.dumps(example)  # same key order at every depth
    assert example == original  # input not mutated


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_round_trip_through_json_text(cls: type) -> None:
    text = json.dumps(cls.from_dict(EXAMPLES[cls]).to_dict())
    assert cls.from_dict(json.loads(text)).to_dict() == EXAMPLES[cls]


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_unknown_keys_are_ignored(cls: type) -> None:
    assert cls.from_dict({**EXAMPLES[cls], "legacy_key": object()}).to_dict() == EXAMPLES[cls]


def test_missing_optional_fields_become_null_and_are_still_written() -> None:
    info = ModelInformation.from_dict({"id": "m", "organization": "o", "project": "p", "version": "1.0"})
    assert info.to_dict() == {"id": "m", "host": None, "organization": "o", "project": "p", "version": "1.0",
                              "categories": [], "resolution": None, "model_root_path": None, "model_size": None,
                              "conf_threshold": None}
    assert Category.from_dict({"id": "c", "name": "n"}).to_dict() == {
        "id": "c", "name": "n", "description": None, "hotkey": None, "color": None, "point_size": None, "type": None}


def test_image_metadata_lists_default_to_empty_and_key_order_matches_detector_4_1() -> None:
    """Local clients send partial metadata (detector §3.4); the result has all keys in §4.1 order."""
    out = ImageMetadata.from_dict({"tags": None, "source": "robot"}).to_dict()
    assert list(out) == ["box_detections", "point_detections", "segmentation_detections",
                         "classification_detections", "box_annotations", "point_annotations",
                         "classification_annotation", "tags", "created", "source", "state"]
    assert out == {**ImageMetadata().to_dict(), "source": "robot"}
    assert ImageMetadata().to_dict()["tags"] == [] and ImageMetadata().to_dict()["state"] is None


def test_model_information_ignores_format_and_can_drop_root_path() -> None:
    info = ModelInformation.from_dict({**MODEL_INFO, "format": "mocked"})
    assert "format" not in info.to_dict()
    written = info.to_dict(include_root_path=False)
    assert "model_root_path" not in written
    assert list(written) == [k for k in MODEL_INFO if k != "model_root_path"]
    assert info.categories[0].type is CategoryType.Box
    assert info.context.to_dict() == {"organization": "zauberzeug", "project": "demo"}


def test_numbers_are_normalised() -> None:
    """An int for a float field becomes a float; an integral float for an int field becomes an int."""
    box = BoxDetection.from_dict({**BOX, "x": 120.0, "confidence": 1})
    assert box.x == 120 and type(box.x) is int
    assert box.confidence == 1.0 and type(box.confidence) is float


def test_enum_fields_are_enums_and_written_as_strings() -> None:
    status = DetectorStatus.from_dict(EXAMPLES[DetectorStatus])
    assert status.state is NodeState.Online and status.operation_mode is OperationMode.Idle
    assert json.dumps(status.to_dict()["state"]) == '"online"'
    made = DetectorStatus(uuid="u", name="n", uptime=1, model_format="mocked", operation_mode=OperationMode.Startup)
    assert made.to_dict()["state"] == "online" and made.to_dict()["operation_mode"] == "startup"
    about = AboutResponse(operation_mode=OperationMode.Idle, version_control=data.VersionMode.Pause)
    assert about.to_dict() == {"operation_mode": "idle", "state": "online", "model_info": None,
                               "target_model": None, "version_control": "pause", "errors": {}}


def test_unknown_category_type_is_kept_as_string() -> None:
    """Upstream accepts any type string; a new Loop category kind must not make a model unreadable."""
    category = Category.from_dict({**CATEGORY, "type": "polygon"})
    assert category.type == "polygon" and category.to_dict()["type"] == "polygon"


def test_deployment_target_allows_null_version() -> None:
    target = data.DeploymentTarget.from_dict({"model_uuid": None, "version": None, "extra": 1})
    assert target.version is None and target.model_uuid is None


def test_model_list_entry_needs_only_id_and_version() -> None:
    """§5.7: the fields no node uses (`created`, `formats`, `comment`, `host`) may be missing."""
    entry = data.ModelListEntry.from_dict({"id": "m1", "version": "1.2"})
    assert entry.to_dict() == {"id": "m1", "version": "1.2", "formats": [], "created": None, "comment": None,
                               "host": None}


def test_segmentation_shape_object_and_string_are_kept_as_given() -> None:
    as_text = SegmentationDetection.from_dict(SEGMENTATION)
    as_object = SegmentationDetection.from_dict(dict(SEGMENTATION, shape=SHAPE))
    assert as_text.shape == "10,10,60,10,60,40"
    assert isinstance(as_object.shape, Shape) and as_object.shape.points[1] == Point(x=60, y=10)
    assert flatten_shape(as_object.shape) == "10,10,60,10,60,40" == flatten_shape(as_text.shape)
    assert parse_shape("10,10,60,10,60,40") == as_object.shape
    assert parse_shape("") == Shape() and flatten_shape(Shape()) == ""
    assert parse_shape(" 1.0, 2 ,3,4") == Shape(points=[Point(x=1, y=2), Point(x=3, y=4)])
    assert parse_shape("1.4,2.6", round_ints=True) == Shape(points=[Point(x=1, y=3)])


def test_socket_response_helpers() -> None:
    assert SocketResponse.for_success("ok").to_dict() == {"success": True, "error_msg": None, "payload": "ok"}
    assert SocketResponse.for_failure("boom").to_dict() == {"success": False, "error_msg": "boom", "payload": None}


def test_to_dict_output_does_not_alias_record_lists() -> None:
    meta = ImageMetadata(tags=["a"])
    meta.to_dict()["tags"].append("b")
    assert meta.tags == ["a"]
