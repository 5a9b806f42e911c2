"""Node status records, acks, trainer and annotator payloads (loop-protocol §6.3, §7.8-§7.12, §7.14;
trainer §9.1)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .enums import AnnotationEventType, NodeState, OperationMode
from .fields import (Reader, as_any, as_bool, as_float, as_int, as_object, as_str, dict_of, enum_of, enum_value,
                     list_of, record)
from .models import Category, Context, PretrainedModel


@dataclass(slots=True, kw_only=True)
class SocketResponse:
    """Socket.IO ack ``{"success", "error_msg", "payload"}`` (§6.3)."""

    success: bool
    error_msg: str | None = None
    payload: Any = None

    @classmethod
    def for_success(cls, payload: Any = None) -> SocketResponse:
        """A successful ack carrying ``payload``."""
        return cls(success=True, payload=payload)

    @classmethod
    def for_failure(cls, error_msg: str, payload: Any = None) -> SocketResponse:
        """A failed ack with an error message."""
        return cls(success=False, error_msg=error_msg, payload=payload)

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> SocketResponse:
        r = Reader(d, path, round_ints)
        return cls(success=r.required("success", as_bool), error_msg=r.optional("error_msg", as_str),
                   payload=r.optional("payload", as_any))

    def to_dict(self) -> dict[str, Any]:
        return {"success": self.success, "error_msg": self.error_msg, "payload": self.payload}


@dataclass(slots=True, kw_only=True)
class TrainingStatus:
    """Trainer status for ``update_trainer`` (§7.8); ``id`` is the node uuid, ``state`` a §8.2 string."""

    id: str
    name: str
    state: str
    uptime: float | None = None
    errors: dict[str, str] = field(default_factory=dict)
    progress: float | None = None
    pretrained_models: list[PretrainedModel] = field(default_factory=list)
    architecture: str | None = None
    context: Context | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> TrainingStatus:
        r = Reader(d, path, round_ints)
        return cls(id=r.required("id", as_str), name=r.required("name", as_str), state=r.required("state", as_str),
                   uptime=r.optional("uptime", as_float), errors=r.required("errors", dict_of(as_str)),
                   progress=r.optional("progress", as_float),
                   pretrained_models=r.required("pretrained_models", list_of(record(PretrainedModel))),
                   architecture=r.optional("architecture", as_str), context=r.optional("context", record(Context)))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "state": self.state, "uptime": self.uptime,
                "errors": dict(self.errors), "progress": self.progress,
                "pretrained_models": [m.to_dict() for m in self.pretrained_models],
                "architecture": self.architecture,
                "context": None if self.context is None else self.context.to_dict()}


@dataclass(slots=True, kw_only=True)
class TrainingOut:
    """Third argument of ``update_training`` (§7.9); ``confusion_matrix`` is keyed by category uuid."""

    trainer_id: str
    trainer_name: str | None = None
    confusion_matrix: dict[str, Any] | None = None
    train_image_count: int | None = None
    test_image_count: int | None = None
    hyperparameters: dict[str, Any] | None = None
    best_epoch: int | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> TrainingOut:
        r = Reader(d, path, round_ints)
        return cls(trainer_id=r.required("trainer_id", as_str), trainer_name=r.optional("trainer_name", as_str),
                   confusion_matrix=r.optional("confusion_matrix", as_object),
                   train_image_count=r.optional("train_image_count", as_int),
                   test_image_count=r.optional("test_image_count", as_int),
                   hyperparameters=r.optional("hyperparameters", as_object),
                   best_epoch=r.optional("best_epoch", as_int))

    def to_dict(self) -> dict[str, Any]:
        return {"trainer_id": self.trainer_id, "trainer_name": self.trainer_name,
                "confusion_matrix": self.confusion_matrix, "train_image_count": self.train_image_count,
                "test_image_count": self.test_image_count, "hyperparameters": self.hyperparameters,
                "best_epoch": self.best_epoch}


@dataclass(slots=True, kw_only=True)
class DetectorStatus:
    """Detector status for ``POST P/detectors`` (§7.10); ``uptime`` in whole seconds."""

    uuid: str
    name: str
    state: NodeState = NodeState.Online
    uptime: int
    model_format: str
    current_model: str | None = None
    target_model: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    operation_mode: OperationMode
    node_version: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> DetectorStatus:
        r = Reader(d, path, round_ints)
        return cls(uuid=r.required("uuid", as_str), name=r.required("name", as_str),
                   state=r.required("state", enum_of(NodeState)), uptime=r.required("uptime", as_int),
                   model_format=r.required("model_format", as_str),
                   current_model=r.optional("current_model", as_str),
                   target_model=r.optional("target_model", as_str), errors=r.required("errors", dict_of(as_str)),
                   operation_mode=r.required("operation_mode", enum_of(OperationMode)),
                   node_version=r.optional("node_version", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "name": self.name, "state": enum_value(self.state), "uptime": self.uptime,
                "model_format": self.model_format, "current_model": self.current_model,
                "target_model": self.target_model, "errors": dict(self.errors),
                "operation_mode": enum_value(self.operation_mode), "node_version": self.node_version}


@dataclass(slots=True, kw_only=True)
class AnnotationNodeStatus:
    """Annotator status for ``update_annotation_node`` (§7.11); ``uptime`` is the real uptime in seconds."""

    id: str
    name: str
    state: NodeState = NodeState.Online
    uptime: int
    errors: dict[str, str] = field(default_factory=dict)
    capabilities: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> AnnotationNodeStatus:
        r = Reader(d, path, round_ints)
        return cls(id=r.required("id", as_str), name=r.required("name", as_str),
                   state=r.required("state", enum_of(NodeState)), uptime=r.required("uptime", as_int),
                   errors=r.required("errors", dict_of(as_str)),
                   capabilities=r.required("capabilities", list_of(as_str)))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "state": enum_value(self.state), "uptime": self.uptime,
                "errors": dict(self.errors), "capabilities": list(self.capabilities)}


@dataclass(slots=True, kw_only=True)
class TrainingDetails:
    """``details`` of ``begin_training`` (§7.12); legacy keys such as ``id`` are ignored.

    ``base_model_uuid`` is kept as sent; deciding whether it is a usable uuid is the trainer's job.
    """

    categories: list[Category]
    training_number: int
    model_variant: str
    hyperparameters: dict[str, Any]
    base_model_uuid: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> TrainingDetails:
        r = Reader(d, path, round_ints)
        return cls(categories=r.required("categories", list_of(record(Category))),
                   training_number=r.required("training_number", as_int),
                   model_variant=r.required("model_variant", as_str),
                   hyperparameters=r.required("hyperparameters", as_object),
                   base_model_uuid=r.optional("base_model_uuid", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"categories": [c.to_dict() for c in self.categories], "training_number": self.training_number,
                "model_variant": self.model_variant, "hyperparameters": self.hyperparameters,
                "base_model_uuid": self.base_model_uuid}


@dataclass(slots=True, kw_only=True)
class TrainingStateData:
    """A new best training state from ``_get_new_best_training_state`` (trainer §9.1); local, not on the wire."""

    confusion_matrix: dict[str, Any] = field(default_factory=dict)
    meta_information: dict[str, Any] = field(default_factory=dict)
    epoch: int | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> TrainingStateData:
        r = Reader(d, path, round_ints)
        return cls(confusion_matrix=r.optional("confusion_matrix", as_object, {}),
                   meta_information=r.optional("meta_information", as_object, {}),
                   epoch=r.optional("epoch", as_int))

    def to_dict(self) -> dict[str, Any]:
        return {"confusion_matrix": self.confusion_matrix, "meta_information": self.meta_information,
                "epoch": self.epoch}


@dataclass(slots=True, kw_only=True)
class Coordinate:
    """An image pixel position of a user input event."""

    x: int
    y: int

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> Coordinate:
        r = Reader(d, path, round_ints)
        return cls(x=r.required("x", as_int), y=r.required("y", as_int))

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y}


@dataclass(slots=True, kw_only=True)
class AnnotationData:
    """One user input event for the annotator (§7.14)."""

    coordinate: Coordinate
    event_type: AnnotationEventType
    context: Context
    image_uuid: str
    category: Category
    key_up: str | None = None
    key_down: str | None = None
    epsilon: float | None = None
    is_shift_key_pressed: bool | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> AnnotationData:
        r = Reader(d, path, round_ints)
        return cls(coordinate=r.required("coordinate", record(Coordinate)),
                   event_type=r.required("event_type", enum_of(AnnotationEventType)),
                   context=r.required("context", record(Context)), image_uuid=r.required("image_uuid", as_str),
                   category=r.required("category", record(Category)), key_up=r.optional("key_up", as_str),
                   key_down=r.optional("key_down", as_str), epsilon=r.optional("epsilon", as_float),
                   is_shift_key_pressed=r.optional("is_shift_key_pressed", as_bool))

    def to_dict(self) -> dict[str, Any]:
        return {"coordinate": self.coordinate.to_dict(), "event_type": enum_value(self.event_type),
                "context": self.context.to_dict(), "image_uuid": self.image_uuid,
                "category": self.category.to_dict(), "key_up": self.key_up, "key_down": self.key_down,
                "epsilon": self.epsilon, "is_shift_key_pressed": self.is_shift_key_pressed}


@dataclass(slots=True, kw_only=True)
class UserInput:
    """Payload of ``handle_user_input`` (§7.14)."""

    frontend_id: str
    data: AnnotationData

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> UserInput:
        r = Reader(d, path, round_ints)
        return cls(frontend_id=r.required("frontend_id", as_str), data=r.required("data", record(AnnotationData)))

    def to_dict(self) -> dict[str, Any]:
        return {"frontend_id": self.frontend_id, "data": self.data.to_dict()}
