"""Pure rules of the detector API: request parameters (§2.2, §2.3, §3.3), result normalisation (§4.3) and
upload metadata (§3.4). No I/O, no threads; the callers pass the clock and log the warnings returned.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..data import (BoxAnnotation, BoxDetection, ClassificationAnnotation, ClassificationDetection, DataError,
                    ImageMetadata, ModelInformation, PointAnnotation, PointDetection, SegmentationDetection, Shape,
                    parse_shape)
from ..isotime import parse_iso_datetime

AUTOUPLOAD_VALUES = ('filtered', 'all', 'disabled')
CAMERA_ID_NAMES = ('camera_id', 'camera-id', 'mac')
CREATION_DATE_NAMES = ('creation_date', 'creation-date')
PICKED_BY_SYSTEM = 'picked_by_system'
TRUE_WORDS = frozenset({'true', '1', 'yes', 'on'})
FALSE_WORDS = frozenset({'false', '0', 'no', 'off'})
METADATA_KEYS = frozenset({'box_detections', 'point_detections', 'segmentation_detections',
                           'classification_detections', 'box_annotations', 'point_annotations',
                           'classification_annotation', 'tags', 'created', 'source', 'state', 'creation_date'})


class ParameterError(ValueError):
    """A bad request parameter; str(e) is the client message (REST 400 / Socket.IO error ack)."""


class ResultError(TypeError):
    """The logic returned something that is not an ImageMetadata (REST 500)."""


@dataclass(frozen=True, slots=True)
class DetectParams:
    """Parsed parameters of one detect request (REST headers/query or Socket.IO payload)."""

    camera_id: str | None = None
    tags: tuple[str, ...] = ()
    source: str | None = None
    autoupload: str = 'filtered'
    created: str | None = None


# ---- parameters ------------------------------------------------------------------------------------------

def first_given(lookup: Callable[[str], Any], names: Sequence[str]) -> Any:
    """The value of the first name that `lookup` finds (not None and not ''), else None."""
    for name in names:
        value = lookup(name)
        if value is not None and value != '':
            return value
    return None


def parse_tags(value: Any) -> tuple[str, ...]:
    """Comma string or list of str → trimmed tags without empty ones; None → ()."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: Iterable[Any] = value.split(',')
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise ParameterError(f'tags must be a list of strings or a comma-separated string, got {type(value).__name__}')
    tags = []
    for item in items:
        if not isinstance(item, str):
            raise ParameterError(f'tags must be strings, got {item!r}')
        item = item.strip()
        if item:
            tags.append(item)
    return tuple(tags)


def parse_autoupload(value: Any) -> str:
    """`filtered` (default), `all` or `disabled`, exactly."""
    if value is None:
        return 'filtered'
    if isinstance(value, str) and value.strip() in AUTOUPLOAD_VALUES:
        return value.strip()
    raise ParameterError(f"invalid autoupload value {value!r} (allowed: {', '.join(AUTOUPLOAD_VALUES)})")


def parse_creation_date(value: Any) -> str | None:
    """The date string unchanged if it parses as ISO 8601 (any single separator before the time), else error."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if len(text) >= 10:
            try:
                parse_iso_datetime(text)
                return value
            except ValueError:
                pass
    raise ParameterError(f'invalid creation_date {value!r}: expected ISO 8601, e.g. 2025-06-01T10:00:00')


def parse_bool(name: str, value: Any, default: bool = False) -> bool:
    """A boolean parameter: bool, or true/false/1/0/yes/no (case-insensitive)."""
    if value is None or value == '':
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ParameterError(f'invalid {name} value {value!r} (allowed: true, false, 1, 0, yes, no)')


def parse_optional_str(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ParameterError(f'{name} must be a string, got {type(value).__name__}')


def detect_params(lookup: Callable[[str], Any], *, created_alias: bool = False) -> DetectParams:
    """DetectParams from a name lookup (header-then-query for REST, the payload dict for Socket.IO)."""
    camera = first_given(lookup, CAMERA_ID_NAMES)
    date_names = CREATION_DATE_NAMES + ('created',) if created_alias else CREATION_DATE_NAMES
    return DetectParams(camera_id=None if camera is None else str(camera),
                        tags=parse_tags(lookup('tags')),
                        source=parse_optional_str('source', lookup('source')),
                        autoupload=parse_autoupload(lookup('autoupload')),
                        created=parse_creation_date(first_given(lookup, date_names)))


# ---- normalisation of the logic's result -----------------------------------------------------------------

def _int(value: Any, rounded: list[bool]) -> int:
    if type(value) is int:
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if not number.is_integer():
            rounded[0] = True
        return round(number)
    raise ResultError(f'expected a number, got {value!r}')


def _flat(shape: Any, rounded: list[bool]) -> str:
    if isinstance(shape, str):
        return shape
    if isinstance(shape, Shape):
        return ','.join(f'{_int(p.x, rounded)},{_int(p.y, rounded)}' for p in shape.points)
    raise ResultError(f'segmentation shape must be a Shape or a string, got {type(shape).__name__}')


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def normalised_copy(result: Any, tags: Iterable[str] = (), created: str | None = None,
                    source: str | None = None) -> tuple[ImageMetadata, bool]:
    """A new ImageMetadata built from the logic's `result` (never mutated) per §4.3, plus the caller's
    tags, `created` and `source`; the flag says whether fractional box coordinates were rounded."""
    if not isinstance(result, ImageMetadata):
        raise ResultError(f'evaluate returned {type(result).__name__}, not an ImageMetadata')
    r = [False]
    boxes = [BoxDetection(category_name=b.category_name, x=_int(b.x, r), y=_int(b.y, r), width=_int(b.width, r),
                          height=_int(b.height, r), model_name=b.model_name, confidence=float(b.confidence),
                          category_id=_str_or_none(b.category_id)) for b in result.box_detections]
    points = [PointDetection(category_name=p.category_name, x=float(p.x), y=float(p.y), model_name=p.model_name,
                             confidence=float(p.confidence), category_id=_str_or_none(p.category_id))
              for p in result.point_detections]
    segmentations = [SegmentationDetection(category_name=s.category_name, shape=_flat(s.shape, r),
                                           model_name=s.model_name, confidence=float(s.confidence),
                                           category_id=_str_or_none(s.category_id))
                     for s in result.segmentation_detections]
    classifications = [ClassificationDetection(category_name=c.category_name, model_name=c.model_name,
                                               confidence=float(c.confidence), category_id=_str_or_none(c.category_id))
                       for c in result.classification_detections]
    box_annotations = [BoxAnnotation(category_name=b.category_name, x=_int(b.x, r), y=_int(b.y, r),
                                     width=_int(b.width, r), height=_int(b.height, r), category_id=b.category_id)
                       for b in result.box_annotations]
    point_annotations = [PointAnnotation(category_name=p.category_name, x=float(p.x), y=float(p.y),
                                         category_id=p.category_id) for p in result.point_annotations]
    ca = result.classification_annotation
    return ImageMetadata(
        box_detections=boxes, point_detections=points, segmentation_detections=segmentations,
        classification_detections=classifications, box_annotations=box_annotations,
        point_annotations=point_annotations,
        classification_annotation=None if ca is None else ClassificationAnnotation(category_name=ca.category_name,
                                                                                   category_id=ca.category_id),
        tags=[*result.tags, *tags], created=created, source=source, state=None), r[0]


def with_shape_objects(answer: dict[str, Any]) -> dict[str, Any]:
    """The Socket.IO form of an answer: each flattened segmentation `shape` as `{"points": [{"x", "y"}, …]}`.

    **Differs from upstream** on purpose: rosys's `DetectorHardware` (the Socket.IO client robots run) parses
    `shape` only as that object and rejects every answer with a flattened string. REST answers keep the
    string (scripts written against upstream). A string that is no coordinate list stays as the logic made it.
    """
    segmentations = answer.get('segmentation_detections')
    if not segmentations:
        return answer
    converted = []
    for detection in segmentations:
        shape = detection.get('shape')
        if isinstance(shape, str):
            try:
                shape = parse_shape(shape).to_dict()
            except DataError:
                pass
        converted.append({**detection, 'shape': shape})
    return {**answer, 'segmentation_detections': converted}


def add_tags(metadata: ImageMetadata, extra: Iterable[str]) -> None:
    """Append tags not yet present (in place, on the node's own copy)."""
    for tag in extra:
        if tag not in metadata.tags:
            metadata.tags.append(tag)


# ---- upload metadata (§3.4) --------------------------------------------------------------------------------

def local_created(now: datetime) -> str:
    """The node-made `created` value: local time `YYYY-MM-DD_HH:MM:SS.mmm`."""
    return now.strftime('%Y-%m-%d_%H:%M:%S.') + f'{now.microsecond // 1000:03d}'


@dataclass
class UploadMetadata:
    """A parsed upload metadata record and the warnings to log about it."""

    metadata: ImageMetadata
    warnings: list[str] = field(default_factory=list)
    unknown_keys: list[str] = field(default_factory=list)


def upload_metadata(raw: Any, model_info: ModelInformation | None, now: datetime) -> UploadMetadata:
    """ImageMetadata of a Socket.IO `upload` per §3.4 (alias, rounding, default date, tags, category ids)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ParameterError(f'invalid metadata: expected an ImageMetadata dict, got {type(raw).__name__}')
    data = dict(raw)
    if data.get('created') is None and data.get('creation_date') is not None:
        data['created'] = data['creation_date']
    try:
        metadata = ImageMetadata.from_dict(data, round_ints=True)
    except DataError as e:
        raise ParameterError(f'invalid metadata: {e}') from None
    if metadata.created is None:
        metadata.created = local_created(now)
    add_tags(metadata, [PICKED_BY_SYSTEM])
    parsed = UploadMetadata(metadata, unknown_keys=sorted(str(k) for k in data if k not in METADATA_KEYS))
    fill_category_ids(parsed, model_info)
    return parsed


def fill_category_ids(parsed: UploadMetadata, model_info: ModelInformation | None) -> None:
    """Set category ids of detections and annotations from the model's categories by exact name (§3.4)."""
    md = parsed.metadata
    records: list[Any] = [*md.box_detections, *md.point_detections, *md.segmentation_detections,
                          *md.classification_detections, *md.box_annotations, *md.point_annotations]
    if md.classification_annotation is not None:
        records.append(md.classification_annotation)
    if not records:
        return
    if model_info is None:
        parsed.warnings.append('no model is active: category ids of the uploaded metadata are kept as given')
        return
    ids: dict[str, str] = {}
    for category in model_info.categories:
        ids.setdefault(category.name, category.id)
    unknown: list[str] = []
    for record in records:
        category_id = ids.get(record.category_name)
        if category_id is not None:
            record.category_id = category_id
        else:
            if record.category_name not in unknown:
                unknown.append(record.category_name)
            if not record.category_id:
                record.category_id = ''
    if unknown:
        parsed.warnings.append(f"uploaded metadata names categories the model {model_info.version} does not know: "
                               f"{', '.join(unknown)}; it knows: {', '.join(ids) or '(none)'}")


def plain_upload_metadata(*, source: str | None, created: str | None, state: str | None,
                          tags: Iterable[str]) -> ImageMetadata:
    """The metadata of a REST `POST /upload` file: empty detections, the parameters, `picked_by_system`."""
    metadata = ImageMetadata(tags=list(tags), created=created, source=source, state=state)
    add_tags(metadata, [PICKED_BY_SYSTEM])
    return metadata
