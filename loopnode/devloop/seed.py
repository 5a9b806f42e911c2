"""Seeded content: the `demo` project of loop-protocol.md §11.4 and generated projects (admin, T1).

`add_model_format(store, project, version, fmt, zip_bytes)` attaches another format to a seeded model, so
extensions (e.g. the examples' `color_blobs` format) can be registered as seed hooks of `DevLoop`.
"""
from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .imagegen import PURPLE, ShapeStyle, category_color, color_hex, generate_image, hex_color
from .modelzip import complete_model_json, files_from_zip, with_model_json, zip_from_files
from .store import IMAGE_STATES, NewImage, Store, now_iso

DEMO_ORG = 'zauberzeug'
DEMO_PROJECT = 'demo'
BOX_CATEGORY_ID = '00000000-0000-0000-0000-0000000000a1'
POINT_CATEGORY_ID = '00000000-0000-0000-0000-0000000000a2'
SEGMENTATION_CATEGORY_ID = '00000000-0000-0000-0000-0000000000a3'
CLASSIFICATION_CATEGORY_ID = '00000000-0000-0000-0000-0000000000a4'
DEMO_MODELS = {'1.0': '00000000-0000-0000-0000-000000000010',
               '1.1': '00000000-0000-0000-0000-000000000011',
               '1.2': '00000000-0000-0000-0000-000000000012'}
DEMO_TARGET_VERSION = '1.1'
DEMO_TRAINING_NUMBER = 1
DEMO_IMAGE_COUNTS = {'inbox': 1, 'annotate': 2, 'review': 3, 'complete': 4}
MOCKED_RESOLUTION = 320
SEEDS = ('demo', 'empty')

SeedHook = Callable[[Store], None]
_ID_NAMESPACE = uuid.UUID('6f1d2a4e-0c1b-4f5e-9a57-0d3e5a1c2b00')


def category(category_id: str, name: str, category_type: str, *, color: str | None = None,
             point_size: int | None = None, hotkey: str | None = None) -> dict[str, Any]:
    """A Category record (every field present, loop-protocol.md §7.1)."""
    return {'id': category_id, 'name': name, 'description': None, 'hotkey': hotkey, 'color': color,
            'point_size': point_size, 'type': category_type}


def demo_categories() -> list[dict[str, Any]]:
    return [
        category(BOX_CATEGORY_ID, 'some box', 'box', color=color_hex(category_color(0)), hotkey='1'),
        category(POINT_CATEGORY_ID, 'purple point', 'point', color=color_hex(PURPLE), point_size=20, hotkey='2'),
        category(SEGMENTATION_CATEGORY_ID, 'some segmentation', 'segmentation', color=color_hex(category_color(2)),
                 hotkey='3'),
        category(CLASSIFICATION_CATEGORY_ID, 'some class', 'classification', color=color_hex(category_color(3)),
                 hotkey='4'),
    ]


def generated_categories(org: str, project: str, *, boxes: int = 1, points: int = 1, segmentations: int = 0,
                         classifications: int = 0) -> list[dict[str, Any]]:
    """Categories `box_category_1`, …, `point_category_1`, … with distinct palette colours and stable ids."""
    result = []
    index = 0
    for kind, count in (('box', boxes), ('point', points), ('segmentation', segmentations),
                        ('classification', classifications)):
        for n in range(1, count + 1):
            name = f'{kind}_category_{n}'
            result.append(category(str(uuid.uuid5(_ID_NAMESPACE, f'{org}/{project}/category/{name}')), name, kind,
                                   color=color_hex(category_color(index)),
                                   point_size=20 if kind == 'point' else None))
            index += 1
    return result


def _style(cat: dict[str, Any]) -> ShapeStyle:
    return ShapeStyle(cat['name'], cat['id'], hex_color(cat['color']), int(cat.get('point_size') or 20))


def generated_images(org: str, project: str, categories: list[dict[str, Any]], counts: dict[str, int],
                     seed: int = 0) -> list[NewImage]:
    """Images per state with box and point annotations of the given categories (deterministic for a seed)."""
    box_styles = [_style(c) for c in categories if c['type'] == 'box' and c.get('color')]
    point_styles = [_style(c) for c in categories if c['type'] == 'point' and c.get('color')]
    images = []
    n = 0
    for state in IMAGE_STATES:
        for i in range(counts.get(state, 0)):
            n += 1
            image_id = str(uuid.uuid5(_ID_NAMESPACE, f'{org}/{project}/{seed}/image/{n}'))
            generated = generate_image(random.Random(f'{seed}/{n}').getrandbits(32), box_styles, point_styles)
            boxes = [{'id': str(uuid.uuid5(_ID_NAMESPACE, f'{image_id}/box/{k}')), 'image_id': image_id,
                      'category_id': b.category.category_id, 'x': b.x, 'y': b.y, 'width': b.width,
                      'height': b.height} for k, b in enumerate(generated.boxes)]
            points = [{'id': str(uuid.uuid5(_ID_NAMESPACE, f'{image_id}/point/{k}')), 'image_id': image_id,
                       'category_id': p.category.category_id, 'x': p.x, 'y': p.y}
                      for k, p in enumerate(generated.points)]
            image_set = 'test' if state == 'complete' and i % 4 == 1 else 'train'
            images.append(NewImage(id=image_id, jpeg=generated.jpeg, state=state, image_set=image_set,
                                   width=generated.width, height=generated.height, created=now_iso(),
                                   annotations={'box_annotations': boxes, 'point_annotations': points,
                                                'segmentation_annotations': [], 'classification_annotation': None}))
    return images


def mocked_files() -> dict[str, bytes]:
    """The files of format `mocked` (§11.4) without model.json."""
    return {'file_1.txt': b'content of file one', 'file_2.txt': b'content of file two'}


def model_zip_maker(store: Store, org: str, project: str, files: dict[str, bytes], fmt: str,
                    info: dict[str, Any] | None = None, resolution: int | None = None) -> Callable[[dict], bytes]:
    """`zip_for(model)` for `Store.add_model_format`: a flat zip with model.json completed for that model."""
    def make(model: dict[str, Any]) -> bytes:
        completed = complete_model_json(info or {}, model_id=model['id'], organization=org, project=project,
                                        version=model['version'], fmt=fmt, categories=store.categories(org, project),
                                        resolution=resolution)
        return zip_from_files(with_model_json(files, completed))
    return make


def add_model_format(store: Store, project: str, version: str, fmt: str, zip_bytes: bytes, *,
                     org: str = DEMO_ORG) -> dict[str, Any]:
    """Attach format `fmt` (a zip; its model.json is completed) to `version`, creating the model if needed."""
    files = files_from_zip(zip_bytes)
    info = json.loads(files.pop('model.json')) if 'model.json' in files else {}
    return store.add_model_format(org, project, zip_bytes, fmt, version=version,
                                  zip_for=model_zip_maker(store, org, project, files, fmt, info))


@dataclass(frozen=True)
class ProjectSpec:
    """What a generated project contains (admin `POST /admin/projects` and T1)."""
    organization: str
    project: str
    counts: dict[str, int]
    boxes: int = 1
    points: int = 1
    segmentations: int = 0
    classifications: int = 0
    trainings: int = 0
    seed: int = 0


def create_project(store: Store, spec: ProjectSpec) -> dict[str, Any]:
    """Create a generated project; each training gets a model in format `mocked`. Returns a summary."""
    org, project = spec.organization, spec.project
    categories = generated_categories(org, project, boxes=spec.boxes, points=spec.points,
                                      segmentations=spec.segmentations, classifications=spec.classifications)
    images = generated_images(org, project, categories, spec.counts, seed=spec.seed)
    store.add_project(org, project, categories)
    ids = store.add_images(org, project, images)
    for number in range(1, spec.trainings + 1):
        store.add_training(org, project, number, {'categories': categories, 'training_number': number,
                                                  'model_variant': '', 'hyperparameters': {}})
        store.add_model_format(org, project, b'', 'mocked', training_number=number,
                               zip_for=model_zip_maker(store, org, project, mocked_files(), 'mocked',
                                                       resolution=MOCKED_RESOLUTION))
    return {'organization': org, 'project': project, 'categories': categories, 'image_ids': ids}


def seed_demo(store: Store) -> None:
    """Project zauberzeug/demo as in loop-protocol.md §11.4."""
    org, project = DEMO_ORG, DEMO_PROJECT
    categories = demo_categories()
    store.add_project(org, project, categories)
    store.add_images(org, project, generated_images(org, project, categories, DEMO_IMAGE_COUNTS, seed=0))
    store.add_training(org, project, DEMO_TRAINING_NUMBER, {
        'categories': categories, 'training_number': DEMO_TRAINING_NUMBER, 'model_variant': '',
        'hyperparameters': {'resolution': MOCKED_RESOLUTION}})
    for version, model_id in DEMO_MODELS.items():
        training = DEMO_TRAINING_NUMBER if version == '1.2' else None
        store.add_model_format(org, project, b'', 'mocked', version=version, new_model_id=model_id,
                               training_number=training,
                               zip_for=model_zip_maker(store, org, project, mocked_files(), 'mocked',
                                                       resolution=MOCKED_RESOLUTION))
    store.set_target(org, project, DEMO_MODELS[DEMO_TARGET_VERSION])


def apply_seed(store: Store, seed: str, hooks: Sequence[SeedHook] = ()) -> None:
    """Fill an empty store with `seed` ('demo' or 'empty') and run the hooks after it."""
    if seed not in SEEDS:
        raise ValueError(f'unknown seed {seed!r}: expected one of {", ".join(SEEDS)}')
    if seed == 'demo':
        seed_demo(store)
    for hook in hooks:
        hook(store)
    store.set_meta('seed', seed)
