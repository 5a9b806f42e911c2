"""The example converter `color_blobs` → `color_blobs_lut`: table equivalence, file checks, and a real pass
of a ConverterNode against devloop whose result the detector serves with its `color_blobs_lut` option."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import requests

from loopnode.converter import ConverterNode
from loopnode.data import ModelInformation
from loopnode.devloop import DEMO_MODELS, DEMO_ORG, DEMO_PROJECT, DevLoop
from loopnode.devloop.seed import demo_categories
from loopnode.devloop.seed_examples import example_seed_hooks
from loopnode.examples.color_converter import ColorLutConverter
from loopnode.examples.color_detector import ColorBlobsFactory, ColorLut, color_blobs_lut_factory
from loopnode.examples.color_detector.accuracy import box_iou
from loopnode.examples.color_detector.fit import demo_samples, fit_color_model
from loopnode.examples.color_detector.logic import ColorBlobsLogic
from loopnode.examples.color_detector.lut import LUT_META_FILE, LUT_TABLE_FILE
from loopnode.settings import Settings
from tests.helpers import until

MODEL_INFO = ModelInformation.from_dict({'id': 'm', 'organization': DEMO_ORG, 'project': DEMO_PROJECT,
                                         'version': '1.1', 'categories': demo_categories()})


@pytest.fixture(scope='module')
def fitted() -> ColorBlobsLogic:
    categories = demo_categories()
    return ColorBlobsLogic(fit_color_model(demo_samples(categories, 16, 1), categories), MODEL_INFO)


def test_the_table_finds_the_same_shapes_as_the_source_model_on_200_images(fitted: ColorBlobsLogic) -> None:
    """Issue 14: on 200 generated images the `color_blobs_lut` model finds the same detections as its source
    (same count per category; boxes IoU >= 0.9 to the source model's, points within 2 px)."""
    lut = ColorBlobsLogic(fitted.model, MODEL_INFO, ColorLut.build(fitted.model))
    compared = 0
    for sample in demo_samples(demo_categories(), 200, 2024):
        source, table = fitted.evaluate(sample.image), lut.evaluate(sample.image)
        assert len(source.box_detections) == len(table.box_detections)
        assert len(source.point_detections) == len(table.point_detections)
        for a in source.box_detections:
            best = max(box_iou((a.x, a.y, a.width, a.height), (b.x, b.y, b.width, b.height))
                       for b in table.box_detections if b.category_id == a.category_id)
            assert best >= 0.9
            compared += 1
        for a in source.point_detections:
            nearest = min(float(np.hypot(a.x - b.x, a.y - b.y))
                          for b in table.point_detections if b.category_id == a.category_id)
            assert nearest <= 2.0
            compared += 1
    assert compared > 300


def test_lut_files_round_trip_and_bad_files_name_the_problem(fitted: ColorBlobsLogic, tmp_path: Path) -> None:
    """The two files read back to the same table; a missing table or a wrong size is a ValueError naming it."""
    lut = ColorLut.build(fitted.model, bits=5)
    lut.write(tmp_path)
    back = ColorLut.read(tmp_path)
    assert back.bits == 5 and np.array_equal(back.table, lut.table) and back.model.to_dict() == lut.model.to_dict()
    np.save(tmp_path / LUT_TABLE_FILE, np.zeros(10, dtype=np.uint8))
    with pytest.raises(ValueError, match=LUT_TABLE_FILE):
        ColorLut.read(tmp_path)
    (tmp_path / LUT_TABLE_FILE).unlink()
    with pytest.raises(ValueError, match='not found'):
        ColorLut.read(tmp_path)
    meta = json.loads((tmp_path / LUT_META_FILE).read_text())
    meta['bits'] = 12
    (tmp_path / LUT_META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match='bits'):
        ColorLut.read(tmp_path)
    with pytest.raises(ValueError, match='model_format'):
        ColorBlobsFactory('onnx')


@pytest.fixture
def example_devloop(tmp_path: Path) -> Iterator[DevLoop]:
    loop = DevLoop(tmp_path / 'devloop', seed='demo', seed_hooks=example_seed_hooks())
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()


def test_a_converter_pass_adds_color_blobs_lut_and_the_detector_serves_it(example_devloop: DevLoop,
                                                                         tmp_path: Path) -> None:
    """A ConverterNode with ColorLutConverter against devloop's demo project adds `color_blobs_lut` to every
    `color_blobs` model; the zip holds the table files and model.json, and `color_blobs_lut_factory` builds a
    logic from it that finds the source model's shapes."""
    settings = Settings.from_env({'DATA_FOLDER': str(tmp_path / 'converter'), 'LOOP_HOST': example_devloop.url,
                                  'NODE_PORT': '0', 'LOOP_ORGANIZATION': DEMO_ORG, 'LOOP_PROJECT': DEMO_PROJECT,
                                  'CONVERTER_POLL_INTERVAL': '3600', 'SHUTDOWN_GRACE_SEC': '3'},
                                 node_type='converter')
    node = ConverterNode(ColorLutConverter(), name='lut converter', settings=settings)
    node.start()
    try:
        until(lambda: node.passes.passes_done >= 1, timeout=60, message='first pass done')
    finally:
        node.stop()
    api = f'{example_devloop.url}/api/{DEMO_ORG}/projects/{DEMO_PROJECT}'
    listed = requests.get(api + '/models?format=color_blobs_lut', timeout=5).json()['models']
    assert sorted(m['id'] for m in listed) == sorted(DEMO_MODELS.values())
    served = requests.get(f'{api}/models/{DEMO_MODELS["1.1"]}/color_blobs_lut/file', timeout=10)
    assert served.status_code == 200
    folder = tmp_path / 'lut-model'
    zipfile.ZipFile(io.BytesIO(served.content)).extractall(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted([LUT_META_FILE, LUT_TABLE_FILE, 'model.json'])
    info = ModelInformation.from_dict({**json.loads((folder / 'model.json').read_text()),
                                       'model_root_path': str(folder)})
    logic = color_blobs_lut_factory().build(info)
    assert logic.lut is not None
    sample = demo_samples(demo_categories(), 1, 77)[0]
    result = logic.evaluate(sample.image)
    assert len(result.box_detections) == len(sample.boxes) and len(result.point_detections) == len(sample.points)
