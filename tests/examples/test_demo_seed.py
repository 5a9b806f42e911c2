"""devloop's demo project with the `color_blobs` format (seed hook) and a colour detector following it."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import requests
from PIL import Image

from loopnode.examples.color_detector import ColorBlobsFactory
from loopnode.examples.color_detector.fit import demo_samples
from loopnode.detector import DetectorNode
from loopnode.devloop import DEMO_MODELS, DEMO_ORG, DEMO_PROJECT, DevLoop
from loopnode.devloop.seed import demo_categories
from loopnode.devloop.seed_examples import color_blobs_hook, example_seed_hooks
from loopnode.settings import Settings
from tests.helpers import until

PROJECT_API = f'/api/{DEMO_ORG}/projects/{DEMO_PROJECT}'


def _zip_files(url: str) -> dict[str, bytes]:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_demo_models_have_color_blobs_next_to_unchanged_mocked(tmp_path: Path) -> None:
    """Every demo model gains `color_blobs`; `mocked` of the target 1.1 is unchanged (D6/D18 rely on it);
    the hook is idempotent and survives `POST /admin/reset`."""
    loop = DevLoop(tmp_path / 'loop', seed_hooks=example_seed_hooks())
    url = loop.start()
    try:
        models = requests.get(url + PROJECT_API + '/models', timeout=10).json()['models']
        assert [(m['version'], m['formats']) for m in models] == \
            [(v, ['mocked', 'color_blobs']) for v in DEMO_MODELS]
        assert requests.get(url + PROJECT_API + '/deployment/target', timeout=10).json()['version'] == '1.1'
        target = DEMO_MODELS['1.1']
        mocked = _zip_files(f'{url}{PROJECT_API}/models/{target}/mocked/file')
        assert mocked['file_1.txt'] == b'content of file one' and mocked['file_2.txt'] == b'content of file two'
        assert json.loads(mocked['model.json'])['format'] == 'mocked'
        blobs = _zip_files(f'{url}{PROJECT_API}/models/{target}/color_blobs/file')
        assert sorted(blobs) == ['color_model.json', 'model.json']
        info = json.loads(blobs['model.json'])
        assert (info['format'], info['version'], info['id']) == ('color_blobs', '1.1', target)
        assert [c['name'] for c in json.loads(blobs['color_model.json'])['categories']] == ['some box', 'purple point']
        color_blobs_hook(loop.store)  # already there: nothing added, no 409
        assert requests.post(url + '/admin/reset', timeout=30).status_code == 200
        assert 'color_blobs' in loop.store.model(DEMO_ORG, DEMO_PROJECT, version='1.1')['formats']
    finally:
        loop.stop()


def test_color_detector_follows_the_demo_target_and_detects(tmp_path: Path) -> None:
    """A DetectorNode with ColorBlobsFactory downloads 1.1 in format color_blobs and finds the shapes of a
    generated image through `POST /detect`."""
    loop = DevLoop(tmp_path / 'loop', seed_hooks=example_seed_hooks())
    url = loop.start()
    settings = Settings.from_env({'DATA_FOLDER': str(tmp_path / 'node'), 'LOOP_HOST': url,
                                  'LOOP_ORGANIZATION': DEMO_ORG, 'LOOP_PROJECT': DEMO_PROJECT, 'NODE_PORT': '0',
                                  'LOOP_POLL_INTERVAL': '0.2', 'OUTBOX_MIN_FREE_MB': '0'}, node_type='detector')
    node = DetectorNode(ColorBlobsFactory(), name='colour detector', settings=settings)
    node.start()
    try:
        until(lambda: node.model_manager.slot.state == 'active', timeout=20, message='model 1.1 active')
        assert (tmp_path / 'node' / 'models' / '1.1' / 'color_model.json').is_file()
        sample = demo_samples(demo_categories(), 1, 3)[0]
        jpeg = io.BytesIO()
        Image.fromarray(sample.image).save(jpeg, format='JPEG', quality=95)
        response = requests.post(node.url + '/detect', files={'file': ('s.jpg', jpeg.getvalue(), 'image/jpeg')},
                                 timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body['box_detections']) == len(sample.boxes)
        assert len(body['point_detections']) == len(sample.points)
        assert {d['model_name'] for d in body['box_detections'] + body['point_detections']} == {'1.1'}
    finally:
        node.stop()
        loop.stop()
