"""What a page draws over an image (pure): annotations and detections as SVG-ready shapes, colour per category.

Coordinates stay in the image's own pixels; the SVG's viewBox scales them to whatever size the page shows.
Anything malformed in a record is skipped rather than drawn wrong.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

_HEX_COLOR = re.compile(r'#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})')
_FALLBACK_COLORS = ('#E6194B', '#3CB44B', '#4363D8', '#F58231', '#911EB4', '#42D4F4', '#F032E6', '#BFEF45',
                    '#469990', '#9A6324')


@dataclass(frozen=True)
class Drawn:
    """One shape: `kind` box|point|polygon, `source` annotation|detection, in image pixels."""
    kind: str
    source: str
    category: str
    color: str
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0
    radius: float = 0.0
    points: str = ''
    confidence: float | None = None

    @property
    def title(self) -> str:
        """The hover text: category, confidence if any, and whether it is an annotation."""
        if self.confidence is None:
            return f'{self.category} ({self.source})'
        return f'{self.category} {self.confidence:.0%} ({self.source})'


@dataclass(frozen=True)
class Label:
    """A whole-image classification, shown as a chip beside the image."""
    source: str
    category: str
    color: str
    confidence: float | None = None


class Palette:
    """Category colours by id and by name: the category's own `#RRGGBB`, else a stable colour from its name."""

    def __init__(self, categories: Iterable[Mapping[str, Any]]) -> None:
        self._by_id: dict[str, tuple[str, str]] = {}
        self._by_name: dict[str, str] = {}
        for category in categories:
            name = str(category.get('name') or category.get('id') or '?')
            color = safe_color(category.get('color'), name)
            if category.get('id') is not None:
                self._by_id[str(category['id'])] = (name, color)
            self._by_name.setdefault(name, color)

    def lookup(self, category_id: Any = None, category_name: Any = None) -> tuple[str, str]:
        """(name, colour) of a category given by id (preferred) or name."""
        if category_id is not None and str(category_id) in self._by_id:
            return self._by_id[str(category_id)]
        name = str(category_name) if category_name is not None else str(category_id or '?')
        return name, self._by_name.get(name) or fallback_color(name)


def fallback_color(name: str) -> str:
    return _FALLBACK_COLORS[zlib.crc32(name.encode()) % len(_FALLBACK_COLORS)]


def safe_color(value: Any, name: str) -> str:
    """`value` if it is a hex colour, else the stable fallback colour of `name`."""
    if isinstance(value, str) and _HEX_COLOR.fullmatch(value.strip()):
        return value.strip()
    return fallback_color(name)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def polygon_points(shape: Any) -> str:
    """SVG `points` of a Shape object or a flattened `"x1,y1,x2,y2,…"` string; '' when malformed."""
    pairs: list[tuple[float, float]] = []
    if isinstance(shape, Mapping) and isinstance(shape.get('points'), list):
        for point in shape['points']:
            if not isinstance(point, Mapping):
                return ''
            x, y = _number(point.get('x')), _number(point.get('y'))
            if x is None or y is None:
                return ''
            pairs.append((x, y))
    elif isinstance(shape, str):
        try:
            numbers = [float(part) for part in shape.split(',') if part.strip()]
        except ValueError:
            return ''
        if len(numbers) % 2:
            return ''
        pairs = list(zip(numbers[::2], numbers[1::2]))
    if len(pairs) < 2:
        return ''
    return ' '.join(f'{x:g},{y:g}' for x, y in pairs)


def point_radius(width: Any, height: Any) -> float:
    """A point's drawn radius: visible at thumbnail size, small at full size."""
    size = max(_number(width) or 0.0, _number(height) or 0.0)
    return max(3.0, round(size / 80, 1))


def shapes_of(record: Mapping[str, Any], palette: Palette, radius: float) -> list[Drawn]:
    """Boxes, points and polygons of an ImageData/ImageMetadata record: annotations first, then detections."""
    shapes: list[Drawn] = []
    for source, boxes, points, segmentations in (
            ('annotation', 'box_annotations', 'point_annotations', 'segmentation_annotations'),
            ('detection', 'box_detections', 'point_detections', 'segmentation_detections')):
        shapes += _boxes(_items(record.get(boxes)), source, palette)
        shapes += _points(_items(record.get(points)), source, palette, radius)
        shapes += _polygons(_items(record.get(segmentations)), source, palette)
    return shapes


def labels_of(record: Mapping[str, Any], palette: Palette) -> list[Label]:
    """Classification annotation and detections of a record."""
    labels = []
    annotation = record.get('classification_annotation')
    if isinstance(annotation, Mapping):
        name, color = palette.lookup(annotation.get('category_id'), annotation.get('category_name'))
        labels.append(Label('annotation', name, color))
    for item in _items(record.get('classification_detections')):
        name, color = palette.lookup(item.get('category_id'), item.get('category_name'))
        labels.append(Label('detection', name, color, _number(item.get('confidence'))))
    return labels


def _items(value: Any) -> Sequence[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _boxes(items: Sequence[Mapping[str, Any]], source: str, palette: Palette) -> list[Drawn]:
    result = []
    for item in items:
        numbers = [_number(item.get(k)) for k in ('x', 'y', 'width', 'height')]
        if any(n is None for n in numbers):
            continue
        x, y, width, height = (n or 0.0 for n in numbers)
        name, color = palette.lookup(item.get('category_id'), item.get('category_name'))
        result.append(Drawn('box', source, name, color, x=x, y=y, width=width, height=height,
                            confidence=_number(item.get('confidence'))))
    return result


def _points(items: Sequence[Mapping[str, Any]], source: str, palette: Palette, radius: float) -> list[Drawn]:
    result = []
    for item in items:
        x, y = _number(item.get('x')), _number(item.get('y'))
        if x is None or y is None:
            continue
        name, color = palette.lookup(item.get('category_id'), item.get('category_name'))
        result.append(Drawn('point', source, name, color, x=x, y=y, radius=radius,
                            confidence=_number(item.get('confidence'))))
    return result


def _polygons(items: Sequence[Mapping[str, Any]], source: str, palette: Palette) -> list[Drawn]:
    result = []
    for item in items:
        points = polygon_points(item.get('shape'))
        if not points:
            continue
        name, color = palette.lookup(item.get('category_id'), item.get('category_name'))
        result.append(Drawn('polygon', source, name, color, points=points, confidence=_number(item.get('confidence'))))
    return result
