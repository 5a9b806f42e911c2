"""Bad deployments against a real started DetectorNode and devloop (issue 4, detector.md §7.2, §7.4, §7.6, §8.2).

Each bad model (traversal entry, symlink entry, corrupt zip, zip without model.json, a build that raises) keeps
the previous model serving, shows the error in the node's answers and in the status devloop received, and a
good deployment recovers the node. Also: `Multiple models with version X` and F26 (status during a slow download).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from loopnode.data import ModelInformation
from loopnode.detector import DetectorNode, MockDetectorFactory
from loopnode.detector.logic import MockDetectorLogic
from loopnode.devloop import DEMO_MODELS, DEMO_ORG, DEMO_PROJECT, DevLoop
from tests.helpers import until
from tests.model_zips import corrupt_zip, model_json, symlink_entry, zip_bytes

from .conftest import StartNode, detect_rest

ADMIN_PROJECT = f'/admin/{DEMO_ORG}/projects/{DEMO_PROJECT}'
API_PROJECT = f'/api/{DEMO_ORG}/projects/{DEMO_PROJECT}'
FAST = {'VERSION_CONTROL_DEFAULT': 'follow_loop', 'LOOP_POLL_INTERVAL': '0.1', 'SYNC_CYCLES': '1'}


class BuildFailsFactory(MockDetectorFactory):
    """The mock logic, but `build` raises for every version in `failing`."""

    def __init__(self, failing: set[str]) -> None:
        super().__init__()
        self.failing = failing

    def build(self, model_info: ModelInformation) -> MockDetectorLogic:
        if model_info.version in self.failing:
            raise RuntimeError(f'weights of {model_info.version} do not fit the network')
        return super().build(model_info)


def upload_model(loop: DevLoop, content: bytes, query: str = '') -> dict[str, str]:
    """R1 upload of format `mocked` (a new version unless the query says otherwise); returns {id, version}."""
    response = requests.post(f'{loop.url}{ADMIN_PROJECT}/mocked{query}', files={'files': ('m.zip', content)},
                             timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def set_target(loop: DevLoop, **body: str) -> None:
    response = requests.put(f'{loop.url}{ADMIN_PROJECT}/deployment/target', json=body, timeout=10)
    assert response.status_code == 200, response.text


def received_statuses(loop: DevLoop, uuid: str) -> list[dict[str, Any]]:
    statuses = requests.get(loop.url + '/admin/statuses', timeout=5).json()['detectors']
    return next((s['history'] for s in statuses if s['uuid'] == uuid), [])


def latest_status(loop: DevLoop, uuid: str) -> dict[str, Any]:
    history = received_statuses(loop, uuid)
    return history[-1] if history else {}


def served_model(node: DetectorNode) -> str:
    response = detect_rest(node, headers={'autoupload': 'disabled'})
    assert response.status_code == 200, response.text
    return str(response.json()['box_detections'][0]['model_name'])


def damaged_member_zip() -> bytes:
    """A well-formed zip whose stored member has a flipped byte: opens fine, fails its CRC on extraction."""
    content = bytearray(zip_bytes([('model.json', model_json(resolution=320)), ('weights.bin', b'A' * 2000)]))
    at = content.index(b'A' * 2000) + 1000
    content[at] = ord('B')
    return bytes(content)


# (id, zip bytes, stored verbatim, expected `update_model` cause after "Could not update model: ")
BAD_MODELS: list[tuple[str, Callable[[], bytes], bool, str]] = [
    ('traversal', lambda: zip_bytes([('model.json', model_json()), ('../evil', b'evil')]), True,
     'unsafe zip entry \'../evil\': ".." component'),
    ('symlink', lambda: zip_bytes([('model.json', model_json()), symlink_entry('link', '/etc/passwd')]), True,
     "unsafe zip entry 'link': symbolic link"),
    ('not_a_zip', corrupt_zip, True, 'download is not a zip file: File is not a zip file'),
    ('damaged_member', damaged_member_zip, True, "corrupt zip file: Bad CRC-32 for file 'weights.bin'"),
    ('no_model_json', lambda: zip_bytes({'weights.bin': b'w', 'sub/extra.txt': b'x'}), True, 'model.json not found'),
    ('build_raises', lambda: zip_bytes({'weights.bin': b'w'}), False,
     'build of version {version} failed: RuntimeError: weights of {version} do not fit the network'),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize('case, make_zip, raw, cause', BAD_MODELS, ids=[case[0] for case in BAD_MODELS])
def test_bad_model_keeps_previous_and_recovers(case: str, make_zip: Callable[[], bytes], raw: bool, cause: str,
                                               devloop: DevLoop, start_node: StartNode, data_folder: Path) -> None:
    """Issue 4 bad models (F16 at node level, F27, §7.6): the previous model (0.0) keeps serving, /about shows
    the target that failed, /status and the status devloop received carry `errors.update_model`; deploying a
    good version (1.2) recovers the node and clears the error."""
    bad = upload_model(devloop, make_zip(), '?raw=true' if raw else '')
    version = bad['version']
    set_target(devloop, model_uuid=bad['id'])
    expected = 'Could not update model: ' + cause.format(version=version)
    factory = BuildFailsFactory({version})
    node = start_node(factory, loop_url=devloop.url, **FAST)
    until(lambda: latest_status(devloop, node.uuid).get('errors', {}).get('update_model'), timeout=5,
          message='update_model error received by devloop')
    status = latest_status(devloop, node.uuid)
    assert status['errors'] == {'update_model': expected}
    assert status['current_model'] == '0.0' and status['target_model'] == version
    assert served_model(node) == '0.0'
    assert requests.get(node.url + '/readyz', timeout=5).status_code == 200
    about = requests.get(node.url + '/about', timeout=5).json()
    assert about['model_info']['version'] == '0.0' and about['target_model'] == version
    assert about['errors'] == {'update_model': expected}
    local = requests.get(node.url + '/status', timeout=5).json()['model']
    assert local['last_error'] == expected and local['active_version'] == '0.0'
    models = data_folder / 'models'
    assert sorted(p.name for p in models.iterdir()) == ['0.0']  # no bad, .partial or escaped folder
    assert not (data_folder / 'evil').exists() and not (data_folder.parent / 'evil').exists()
    assert list((data_folder / 'tmp').glob('*')) == []
    assert (data_folder / 'current_model').resolve() == models / '0.0'

    set_target(devloop, version='1.2')
    until(lambda: node.model_manager.slot.active_version == '1.2', timeout=5, message='good version active')
    assert served_model(node) == '1.2'
    until(lambda: latest_status(devloop, node.uuid).get('current_model') == '1.2', timeout=5)
    assert latest_status(devloop, node.uuid)['errors'] == {}
    about = requests.get(node.url + '/about', timeout=5).json()
    assert about['model_info']['version'] == '1.2' and about['target_model'] == '1.2' and about['errors'] == {}
    assert requests.get(node.url + '/status', timeout=5).json()['model']['last_error'] is None
    assert (data_folder / 'current_model').resolve() == models / '1.2'


def test_multiple_models_with_one_version(devloop: DevLoop, start_node: StartNode) -> None:
    """§7.2 step 4: `PUT /model_version 1.1` with two Loop models of version 1.1 → 400 `Multiple models with
    version 1.1`; version mode and target stay unchanged; a unique version is still accepted."""
    node = start_node(loop_url=devloop.url)  # version mode pause, model 0.0 active
    second = upload_model(devloop, zip_bytes({'weights.bin': b'w'}), '?version=1.1&allow_duplicate_version=true')
    assert second['version'] == '1.1' and second['id'] != DEMO_MODELS['1.1']
    before = until(lambda: (v := requests.get(node.url + '/model_version', timeout=5).json())['loop_version'] == '1.1'
                   and v, message='first target poll')  # loop_version is refreshed by every poll
    response = requests.put(node.url + '/model_version', data='1.1', timeout=5)
    assert response.status_code == 400
    assert response.json()['error'] == 'Multiple models with version 1.1'
    assert requests.get(node.url + '/model_version', timeout=5).json() == before
    assert before['version_control'] == 'pause'
    assert requests.put(node.url + '/model_version', data='1.2', timeout=5).json() == 'OK'
    after = requests.get(node.url + '/model_version', timeout=5).json()
    assert after['version_control'] == 'specific_version' and after['target_version'] == '1.2'


def detector_posts(loop: DevLoop) -> int:
    entries = requests.get(loop.url + '/admin/requests', timeout=5).json()['requests']
    return sum(1 for e in entries if e['method'] == 'POST' and e['path'] == f'{API_PROJECT}/detectors')


def model_downloads(loop: DevLoop, model_id: str) -> int:
    entries = requests.get(loop.url + '/admin/requests', timeout=5).json()['requests']
    return sum(1 for e in entries if e['path'] == f'{API_PROJECT}/models/{model_id}/mocked/file')


@pytest.mark.timeout(30)
def test_status_keeps_flowing_during_a_slow_download(devloop: DevLoop, start_node: StartNode) -> None:
    """F26 (scaled down: 3 MB at 0.5 MB/s instead of 100 MB): while the model downloads, a status POST still
    reaches devloop every SYNC_CYCLES (=1) cycles; it shows the old model serving and the new target."""
    weights = random.Random(26).randbytes(3_000_000)  # incompressible, so the served zip stays ~3 MB
    big = upload_model(devloop, zip_bytes({'model.json': model_json(resolution=320), 'weights.bin': weights}))
    requests.post(devloop.url + '/admin/faults', timeout=5, json={
        'match': {'method': 'GET', 'path': f'{API_PROJECT}/models/*/mocked/file'},
        'bytes_per_second': 500_000}).raise_for_status()  # 6 s: the posts below fit in on a loaded machine
    set_target(devloop, model_uuid=big['id'])
    node = start_node(loop_url=devloop.url, **FAST)
    until(lambda: model_downloads(devloop, big['id']) == 1, timeout=5, message='download started')
    posts_at_start = detector_posts(devloop)
    until(lambda: detector_posts(devloop) >= posts_at_start + 5, timeout=4, message='5 status posts')
    assert node.model_manager.slot.active_version == '0.0' and node.model_manager.busy  # still downloading
    status = latest_status(devloop, node.uuid)
    assert status['current_model'] == '0.0' and status['target_model'] == big['version']
    assert status['errors'] == {}
    until(lambda: node.model_manager.slot.active_version == big['version'], timeout=20, message='big model active')
    assert served_model(node) == big['version']
    assert model_downloads(devloop, big['id']) == 1
