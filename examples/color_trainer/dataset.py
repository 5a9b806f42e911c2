"""The training script's input (pure): Loop image records with their annotations → `training_input.json`.

The trainer logic writes `training_input.json` into the training folder before it starts the subprocess; the
script reads it back as `Sample`s. Keeping the format here lets both sides (and the tests) share one reader.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..color_detector.fit import Sample, decode_rgb

INPUT_FILE = 'training_input.json'


@dataclass(frozen=True)
class ImageEntry:
    """One image of the training input: file, set (train/val/test), boxes (cid, x, y, w, h), points (cid, x, y)."""

    path: str
    set: str
    boxes: tuple[tuple[str, int, int, int, int], ...]
    points: tuple[tuple[str, float, float], ...]

    def sample(self) -> Sample:
        return Sample(decode_rgb(Path(self.path).read_bytes()), list(self.boxes), list(self.points))


def entry_of_record(record: dict[str, Any], image_path: str) -> ImageEntry:
    """An ImageEntry of a Loop image record (loop-protocol.md §7: `set`, `box_annotations`, `point_annotations`)."""
    boxes = tuple((str(b['category_id']), int(round(b['x'])), int(round(b['y'])), int(round(b['width'])),
                   int(round(b['height']))) for b in record.get('box_annotations') or [])
    points = tuple((str(p['category_id']), float(p['x']), float(p['y'])) for p in record.get('point_annotations') or [])
    return ImageEntry(image_path, str(record.get('set') or 'train'), boxes, points)


def input_dict(categories: Iterable[dict[str, Any]], entries: Iterable[ImageEntry],
               hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The JSON object of `training_input.json`."""
    return {'categories': list(categories), 'hyperparameters': hyperparameters,
            'images': [{'path': e.path, 'set': e.set, 'boxes': [list(b) for b in e.boxes],
                        'points': [list(p) for p in e.points]} for e in entries]}


@dataclass(frozen=True)
class TrainingInput:
    """`training_input.json` parsed: categories (Loop dicts), hyperparameters, images."""

    categories: list[dict[str, Any]]
    hyperparameters: dict[str, Any]
    images: list[ImageEntry]

    def in_sets(self, *names: str) -> list[ImageEntry]:
        return [e for e in self.images if e.set in names]

    @classmethod
    def read(cls, path: Path) -> 'TrainingInput':
        data = json.loads(path.read_text(encoding='utf-8'))
        if not isinstance(data, dict) or not isinstance(data.get('images'), list) or \
                not isinstance(data.get('categories'), list):
            raise ValueError(f'{path}: expected an object with lists "categories" and "images"')
        images = [ImageEntry(str(i['path']), str(i['set']),
                             tuple((str(b[0]), int(b[1]), int(b[2]), int(b[3]), int(b[4])) for b in i['boxes']),
                             tuple((str(p[0]), float(p[1]), float(p[2])) for p in i['points']))
                  for i in data['images']]
        return cls(data['categories'], dict(data.get('hyperparameters') or {}), images)
