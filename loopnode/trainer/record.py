"""The Training record and its file `{DATA}/last_training__{node_uuid}.json` (trainer.md §4, loop-protocol §7.15).

The keys are upstream's, so either implementation can resume the other's training. The file is written
atomically; a file that does not parse is renamed `….corrupt-<timestamp>` and the node goes on idle.
Errors are never persisted, and neither is a transient state (`resume_state` maps it back).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import Category, Context, DataError
from ..fsutil import atomic_write_json
from .steps import State, TRAINING_STATES, resume_state

log = logging.getLogger(__name__)


@dataclass
class Training:
    """One training: what `begin_training` sent plus what the steps found (image records, model uuid)."""

    id: str
    context: Context
    project_folder: str
    images_folder: str
    training_folder: str
    categories: list[Category]
    hyperparameters: dict[str, Any]
    training_number: int
    model_variant: str
    start_time: float
    training_state: State = State.Initialized
    base_model_uuid: str | None = None
    image_data: list[dict[str, Any]] | None = None
    skipped_image_count: int | None = None
    model_uuid_for_detecting: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys of a record written by someone else

    @property
    def training_path(self) -> Path:
        return Path(self.training_folder)

    @property
    def images_path(self) -> Path:
        return Path(self.images_folder)

    def images_in_set(self, name: str) -> list[dict[str, Any]]:
        return [image for image in self.image_data or [] if image.get('set') == name]

    def train_images(self) -> list[dict[str, Any]]:
        """Image records of the `train` set."""
        return self.images_in_set('train')

    def test_images(self) -> list[dict[str, Any]]:
        """Image records of the `test` set."""
        return self.images_in_set('test')

    def val_images(self) -> list[dict[str, Any]]:
        """The `val` set; without one (0.27.0 rule) the test images."""
        return self.images_in_set('val') or self.test_images()

    def to_dict(self) -> dict[str, Any]:
        return {**self.extra, 'id': self.id, 'context': self.context.to_dict(), 'project_folder': self.project_folder,
                'images_folder': self.images_folder, 'training_folder': self.training_folder,
                'categories': [c.to_dict() for c in self.categories], 'hyperparameters': self.hyperparameters,
                'training_number': self.training_number, 'training_state': self.training_state.value,
                'model_variant': self.model_variant, 'start_time': self.start_time,
                'base_model_uuid': self.base_model_uuid, 'image_data': self.image_data,
                'skipped_image_count': self.skipped_image_count,
                'model_uuid_for_detecting': self.model_uuid_for_detecting}

    @classmethod
    def from_dict(cls, d: Any) -> 'Training':
        """Parse a stored record; raises ValueError (DataError) naming what is wrong."""
        if not isinstance(d, dict):
            raise DataError('training record: expected an object')
        known = {'id', 'context', 'project_folder', 'images_folder', 'training_folder', 'categories',
                 'hyperparameters', 'training_number', 'training_state', 'model_variant', 'start_time',
                 'base_model_uuid', 'image_data', 'skipped_image_count', 'model_uuid_for_detecting'}
        try:
            state = State(d.get('training_state') or State.Initialized.value)
        except ValueError:
            raise DataError(f'training_state: unknown state {d.get("training_state")!r}') from None
        if state not in TRAINING_STATES:
            raise DataError(f'training_state: {state.value!r} is not a training state')
        for key, kinds in (('id', str), ('project_folder', str), ('images_folder', str), ('training_folder', str),
                           ('hyperparameters', dict), ('model_variant', str)):
            if not isinstance(d.get(key), kinds):
                raise DataError(f'{key}: expected {kinds.__name__}')
        number = d.get('training_number')
        if isinstance(number, bool) or not isinstance(number, int):
            raise DataError('training_number: expected int')
        start = d.get('start_time')
        if isinstance(start, bool) or not isinstance(start, (int, float)):
            raise DataError('start_time: expected a number')
        categories = d.get('categories')
        if not isinstance(categories, list):
            raise DataError('categories: expected a list')
        image_data = d.get('image_data')
        if image_data is not None and not (isinstance(image_data, list) and all(isinstance(i, dict) for i in image_data)):
            raise DataError('image_data: expected a list of objects or null')
        optional_str = {k: d.get(k) for k in ('base_model_uuid', 'model_uuid_for_detecting')}
        for key, value in optional_str.items():
            if value is not None and not isinstance(value, str):
                raise DataError(f'{key}: expected str or null')
        skipped = d.get('skipped_image_count')
        if skipped is not None and (isinstance(skipped, bool) or not isinstance(skipped, int)):
            raise DataError('skipped_image_count: expected int or null')
        return cls(id=d['id'], context=Context.from_dict(d.get('context'), path='context'),
                   project_folder=d['project_folder'], images_folder=d['images_folder'],
                   training_folder=d['training_folder'],
                   categories=[Category.from_dict(c, path=f'categories[{i}]') for i, c in enumerate(categories)],
                   hyperparameters=dict(d['hyperparameters']), training_number=number,
                   model_variant=d['model_variant'], start_time=float(start), training_state=resume_state(state),
                   base_model_uuid=optional_str['base_model_uuid'], image_data=image_data,
                   skipped_image_count=skipped, model_uuid_for_detecting=optional_str['model_uuid_for_detecting'],
                   extra={k: v for k, v in d.items() if k not in known})


class RecordFile:
    """`{DATA}/last_training__{node_uuid}.json`: save atomically, load (corrupt → renamed aside), delete."""

    def __init__(self, data_folder: Path, node_uuid: str) -> None:
        self.path = data_folder / f'last_training__{node_uuid}.json'

    def exists(self) -> bool:
        return self.path.exists()

    def stored_id(self) -> str:
        """The `id` in the file without parsing the whole record (`unknown` if unreadable); no side effects."""
        try:
            value = json.loads(self.path.read_text()).get('id')
        except (OSError, ValueError, AttributeError):
            return 'unknown'
        return value if isinstance(value, str) else 'unknown'

    def save(self, training: Training) -> None:
        atomic_write_json(self.path, training.to_dict())

    def load(self) -> Training | None:
        """The stored training, or None without a file; a corrupt file is renamed aside (error logged)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            return Training.from_dict(json.loads(text))
        except (ValueError, TypeError) as e:
            corrupt = self.path.with_name(f'{self.path.name}.corrupt-{time.strftime("%Y%m%d-%H%M%S")}')
            self.path.rename(corrupt)
            log.error('the last-training file %s is corrupt (%s); renamed it to %s, staying idle',
                      self.path.name, e, corrupt.name)
            return None

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
