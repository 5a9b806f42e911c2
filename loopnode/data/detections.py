"""Detections, annotations, shapes and ImageMetadata (loop-protocol §7.3-§7.5, §7.13).

Pixel coordinates: origin top-left, x right, y down. ``to_dict`` of these records is on the detector's hot
path, so it is written out per class (no reflection, no copies beyond the output dicts and lists).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .fields import Reader, as_float, as_int, as_str, list_of, record, type_error


@dataclass(slots=True, kw_only=True)
class Point:
    """One polygon vertex in integer pixels."""

    x: int
    y: int

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> Point:
        r = Reader(d, path, round_ints)
        return cls(x=r.required("x", as_int), y=r.required("y", as_int))

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y}


@dataclass(slots=True, kw_only=True)
class Shape:
    """A polygon: ``{"points": [{"x": int, "y": int}, ...]}``."""

    points: list[Point] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> Shape:
        r = Reader(d, path, round_ints)
        return cls(points=r.required("points", list_of(record(Point))))

    def to_dict(self) -> dict[str, Any]:
        return {"points": [{"x": p.x, "y": p.y} for p in self.points]}



def flatten_shape(shape: Shape | str) -> str:
    """The flattened form ``"x1,y1,x2,y2,…"`` of a shape; a string is returned unchanged."""
    if isinstance(shape, str):
        return shape
    return ",".join(f"{p.x},{p.y}" for p in shape.points)


def parse_shape(text: str, *, path: str = "", round_ints: bool = False) -> Shape:
    """The Shape of a flattened ``"x1,y1,x2,y2,…"`` string (empty string = no points); inverse of flatten_shape."""
    parts = [part.strip() for part in text.split(",")] if text.strip() else []
    if len(parts) % 2:
        raise type_error(path, "an even number of comma separated coordinates", text)
    numbers: list[int] = []
    for i, part in enumerate(parts):
        try:
            value: int | float = int(part)
        except ValueError:
            try:
                value = float(part)
            except ValueError:
                raise type_error(f"{path}[{i}]", "int", part) from None
        numbers.append(as_int(value, f"{path}[{i}]", round_ints))
    return Shape(points=[Point(x=numbers[i], y=numbers[i + 1]) for i in range(0, len(numbers), 2)])


def _shape_or_flat(value: Any, path: str, round_ints: bool = False) -> Shape | str:
    """A segmentation shape: a Shape object, or a flattened string kept as given."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return Shape.from_dict(value, path=path, round_ints=round_ints)
    raise type_error(path, "Shape object or str", value)


def _shape_to_wire(shape: Shape | str) -> Any:
    return shape if isinstance(shape, str) else shape.to_dict()


@dataclass(slots=True, kw_only=True)
class BoxDetection:
    """A box; ``x``/``y`` is the top-left corner."""

    category_name: str
    x: int
    y: int
    width: int
    height: int
    model_name: str
    confidence: float
    category_id: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> BoxDetection:
        r = Reader(d, path, round_ints)
        return cls(category_name=r.required("category_name", as_str), x=r.required("x", as_int),
                   y=r.required("y", as_int), width=r.required("width", as_int),
                   height=r.required("height", as_int), model_name=r.required("model_name", as_str),
                   confidence=r.required("confidence", as_float), category_id=r.optional("category_id", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"category_name": self.category_name, "x": self.x, "y": self.y, "width": self.width,
                "height": self.height, "model_name": self.model_name, "confidence": self.confidence,
                "category_id": self.category_id}


@dataclass(slots=True, kw_only=True)
class PointDetection:
    """A point; ``x``/``y`` is the centre, floats."""

    category_name: str
    x: float
    y: float
    model_name: str
    confidence: float
    category_id: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> PointDetection:
        r = Reader(d, path, round_ints)
        return cls(category_name=r.required("category_name", as_str), x=r.required("x", as_float),
                   y=r.required("y", as_float), model_name=r.required("model_name", as_str),
                   confidence=r.required("confidence", as_float), category_id=r.optional("category_id", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"category_name": self.category_name, "x": self.x, "y": self.y, "model_name": self.model_name,
                "confidence": self.confidence, "category_id": self.category_id}


@dataclass(slots=True, kw_only=True)
class SegmentationDetection:
    """A segmentation; ``shape`` is a Shape or its flattened string (kept as it is)."""

    category_name: str
    shape: Shape | str
    model_name: str
    confidence: float
    category_id: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> SegmentationDetection:
        r = Reader(d, path, round_ints)
        return cls(category_name=r.required("category_name", as_str), shape=r.required("shape", _shape_or_flat),
                   model_name=r.required("model_name", as_str), confidence=r.required("confidence", as_float),
                   category_id=r.optional("category_id", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"category_name": self.category_name, "shape": _shape_to_wire(self.shape),
                "model_name": self.model_name, "confidence": self.confidence, "category_id": self.category_id}


@dataclass(slots=True, kw_only=True)
class ClassificationDetection:
    """A whole-image classification."""

    category_name: str
    model_name: str
    confidence: float
    category_id: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> ClassificationDetection:
        r = Reader(d, path, round_ints)
        return cls(category_name=r.required("category_name", as_str), model_name=r.required("model_name", as_str),
                   confidence=r.required("confidence", as_float), category_id=r.optional("category_id", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"category_name": self.category_name, "model_name": self.model_name, "confidence": self.confidence,
                "category_id": self.category_id}


@dataclass(slots=True, kw_only=True)
class BoxAnnotation:
    """A box annotation uploaded with an image (§7.5)."""

    category_name: str
    x: int
    y: int
    width: int
    height: int
    category_id: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> BoxAnnotation:
        r = Reader(d, path, round_ints)
        return cls(category_name=r.required("category_name", as_str), x=r.required("x", as_int),
                   y=r.required("y", as_int), width=r.required("width", as_int),
                   height=r.required("height", as_int), category_id=r.optional("category_id", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"category_name": self.category_name, "x": self.x, "y": self.y, "width": self.width,
                "height": self.height, "category_id": self.category_id}


@dataclass(slots=True, kw_only=True)
class PointAnnotation:
    """A point annotation uploaded with an image (§7.5)."""

    category_name: str
    x: float
    y: float
    category_id: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> PointAnnotation:
        r = Reader(d, path, round_ints)
        return cls(category_name=r.required("category_name", as_str), x=r.required("x", as_float),
                   y=r.required("y", as_float), category_id=r.optional("category_id", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"category_name": self.category_name, "x": self.x, "y": self.y, "category_id": self.category_id}


@dataclass(slots=True, kw_only=True)
class ClassificationAnnotation:
    """A classification annotation uploaded with an image (§7.5)."""

    category_name: str
    category_id: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> ClassificationAnnotation:
        r = Reader(d, path, round_ints)
        return cls(category_name=r.required("category_name", as_str), category_id=r.optional("category_id", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"category_name": self.category_name, "category_id": self.category_id}


@dataclass(slots=True, kw_only=True)
class SegmentationAnnotation:
    """A segmentation annotation made by an annotator node (§7.13)."""

    id: str
    shape: Shape
    image_id: str
    category_id: str

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> SegmentationAnnotation:
        r = Reader(d, path, round_ints)
        return cls(id=r.required("id", as_str), shape=r.required("shape", record(Shape)),
                   image_id=r.required("image_id", as_str), category_id=r.required("category_id", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "shape": self.shape.to_dict(), "image_id": self.image_id,
                "category_id": self.category_id}


@dataclass(slots=True, kw_only=True)
class Detections:
    """One image's detections for ``POST P/detections`` (§7.4).

    Reading: the lists default to ``[]`` when missing; ``image_id`` is required (the Loop needs it).
    Constructing: ``image_id`` may be left ``None`` and set later.
    """

    box_detections: list[BoxDetection] = field(default_factory=list)
    point_detections: list[PointDetection] = field(default_factory=list)
    segmentation_detections: list[SegmentationDetection] = field(default_factory=list)
    classification_detections: list[ClassificationDetection] = field(default_factory=list)
    image_id: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> Detections:
        r = Reader(d, path, round_ints)
        return cls(box_detections=r.optional("box_detections", list_of(record(BoxDetection)), []),
                   point_detections=r.optional("point_detections", list_of(record(PointDetection)), []),
                   segmentation_detections=r.optional("segmentation_detections",
                                                      list_of(record(SegmentationDetection)), []),
                   classification_detections=r.optional("classification_detections",
                                                        list_of(record(ClassificationDetection)), []),
                   image_id=r.required("image_id", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"box_detections": [b.to_dict() for b in self.box_detections],
                "point_detections": [p.to_dict() for p in self.point_detections],
                "segmentation_detections": [s.to_dict() for s in self.segmentation_detections],
                "classification_detections": [c.to_dict() for c in self.classification_detections],
                "image_id": self.image_id}


@dataclass(slots=True, kw_only=True)
class ImageMetadata:
    """Detector result and outbox JSON (§7.5); ``ImageMetadata()`` is an empty result.

    Reading: every list (detections, annotations, ``tags``) may be missing or null and then becomes ``[]``,
    because local clients send partial metadata with ``upload`` (detector §3.4). ``created``, ``source``,
    ``state`` and ``classification_annotation`` are optional. ``state`` is a plain string, not checked
    against ImageState: the Loop decides which states it accepts. The ``creation_date`` alias is handled by
    the detector, not here. Pass ``round_ints=True`` for locally uploaded metadata (coordinates rounded).
    """

    box_detections: list[BoxDetection] = field(default_factory=list)
    point_detections: list[PointDetection] = field(default_factory=list)
    segmentation_detections: list[SegmentationDetection] = field(default_factory=list)
    classification_detections: list[ClassificationDetection] = field(default_factory=list)
    box_annotations: list[BoxAnnotation] = field(default_factory=list)
    point_annotations: list[PointAnnotation] = field(default_factory=list)
    classification_annotation: ClassificationAnnotation | None = None
    tags: list[str] = field(default_factory=list)
    created: str | None = None
    source: str | None = None
    state: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> ImageMetadata:
        r = Reader(d, path, round_ints)
        return cls(box_detections=r.optional("box_detections", list_of(record(BoxDetection)), []),
                   point_detections=r.optional("point_detections", list_of(record(PointDetection)), []),
                   segmentation_detections=r.optional("segmentation_detections",
                                                      list_of(record(SegmentationDetection)), []),
                   classification_detections=r.optional("classification_detections",
                                                        list_of(record(ClassificationDetection)), []),
                   box_annotations=r.optional("box_annotations", list_of(record(BoxAnnotation)), []),
                   point_annotations=r.optional("point_annotations", list_of(record(PointAnnotation)), []),
                   classification_annotation=r.optional("classification_annotation",
                                                        record(ClassificationAnnotation)),
                   tags=r.optional("tags", list_of(as_str), []), created=r.optional("created", as_str),
                   source=r.optional("source", as_str), state=r.optional("state", as_str))

    def to_dict(self) -> dict[str, Any]:
        ca = self.classification_annotation
        return {"box_detections": [b.to_dict() for b in self.box_detections],
                "point_detections": [p.to_dict() for p in self.point_detections],
                "segmentation_detections": [s.to_dict() for s in self.segmentation_detections],
                "classification_detections": [c.to_dict() for c in self.classification_detections],
                "box_annotations": [b.to_dict() for b in self.box_annotations],
                "point_annotations": [p.to_dict() for p in self.point_annotations],
                "classification_annotation": None if ca is None else ca.to_dict(),
                "tags": list(self.tags), "created": self.created, "source": self.source, "state": self.state}


@dataclass(slots=True, kw_only=True)
class ImagesMetadata:
    """Batch result ``{"items": [ImageMetadata, …]}`` in input order."""

    items: list[ImageMetadata] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> ImagesMetadata:
        r = Reader(d, path, round_ints)
        return cls(items=r.required("items", list_of(record(ImageMetadata))))

    def to_dict(self) -> dict[str, Any]:
        return {"items": [item.to_dict() for item in self.items]}

