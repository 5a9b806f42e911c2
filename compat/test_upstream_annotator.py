"""Compatibility: an unmodified learning_loop_node 0.27.0 annotator against devloop (`make test-compat`).

devloop's annotator side must be faithful to a real annotator node, not an echo of loopnode's own client: the
upstream node (subprocess in `.venv-compat`, tool in `compat/run_upstream_annotator.py`) connects with its own
python-socketio AsyncClient, sends `update_annotation_node` (upstream's repeat cycle: every 5 s), and answers
`handle_user_input` sent through devloop's admin API with its SVG.
"""
from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from loopnode.devloop import DevLoop
from tests.helpers import free_port, until

ROOT = Path(__file__).resolve().parents[1]
COMPAT_PYTHON = ROOT / '.venv-compat' / 'bin' / 'python'
RUNNER = ROOT / 'compat' / 'run_upstream_annotator.py'
ORG, PROJECT = 'zauberzeug', 'demo'
STEP_TIMEOUT = 40.0


@pytest.fixture(params=['open', 'login'])
def devloop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DevLoop]:
    loop = DevLoop(tmp_path / 'devloop', auth=request.param)
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()


@pytest.fixture
def upstream(devloop: DevLoop, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    if not COMPAT_PYTHON.exists():
        pytest.fail(f'{COMPAT_PYTHON} is missing: run `make test-compat`, which installs learning_loop_node==0.27.0')
    data, log_path = tmp_path / 'upstream-data', tmp_path / 'upstream.log'
    data.mkdir()
    env = {'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path), 'DATA_FOLDER': str(data),
           'LOOP_HOST': f'127.0.0.1:{devloop.port}', 'LOOP_ORGANIZATION': ORG, 'LOOP_PROJECT': PROJECT}
    with log_path.open('wb') as log_file:
        process = subprocess.Popen([str(COMPAT_PYTHON), str(RUNNER), '--port', str(free_port())], env=env,
                                   cwd=tmp_path, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        yield process, data, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def step(log_path: Path, cond: Any, message: str) -> Any:
    try:
        return until(cond, STEP_TIMEOUT, interval=0.2, message=message)
    except AssertionError as e:
        tail = '\n'.join(log_path.read_text(errors='replace').splitlines()[-60:])
        raise AssertionError(f'{e}\n--- upstream log ---\n{tail}') from None


def admin(devloop: DevLoop, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f'{devloop.url}/admin/annotators/any/{path}', json=body, timeout=40)
    assert response.status_code == 200, response.text
    return response.json()['ack']


@pytest.mark.timeout(180)
def test_upstream_annotator_answers_devloop(devloop: DevLoop, upstream: tuple[subprocess.Popen[bytes], Path, Path]
                                            ) -> None:
    """An upstream 0.27.0 annotator: connects with its headers, reports its status, answers handle_user_input
    from devloop's admin API with its SVG (after downloading the image), pushes an annotation, and acks
    user_logout."""
    _, data, log_path = upstream
    connected = step(log_path, lambda: requests.get(f'{devloop.url}/admin/annotators', timeout=5).json()['connected'],
                     'the upstream annotator connects')
    assert connected[0]['headers'] == {'organization': ORG, 'project': PROJECT, 'nodeType': 'annotation_node'}
    statuses = step(log_path, lambda: requests.get(f'{devloop.url}/admin/annotators', timeout=5).json()['statuses'],
                    'devloop receives update_annotation_node')
    assert statuses[0]['latest']['name'] == 'upstream-compat-annotator' and statuses[0]['problem'] is None
    assert statuses[0]['latest']['capabilities'] == ['segmentation']

    image = devloop.store.image_ids(ORG, PROJECT)[0]
    ack = admin(devloop, 'handle_user_input', {'frontend_id': 'f1', 'x': 12, 'y': 34, 'image_uuid': image})
    assert ack == {'success': True, 'error_msg': None, 'payload': '<circle cx="12" cy="34" r="1" fill="red"/>'}
    assert (data / ORG / PROJECT / 'images' / f'{image}.jpg').is_file()

    ack = admin(devloop, 'handle_user_input', {'frontend_id': 'f1', 'x': 5, 'y': 6, 'image_uuid': image,
                                                'event_type': 'key_down', 'key_down': 'Enter'})
    assert ack['success'] is True and ack['payload'] == '<circle cx="5" cy="6" r="2" fill="red"/>'
    received = requests.get(f'{devloop.url}/admin/annotators/annotations', timeout=5).json()['annotations']
    assert len(received) == 1 and received[0]['organization'] == ORG and received[0]['payload']['problem'] is None
    assert received[0]['payload']['payload']['shape'] == {'points': [{'x': 5, 'y': 6}, {'x': 15, 'y': 6},
                                                                     {'x': 5, 'y': 16}]}

    ack = admin(devloop, 'handle_user_input', {'frontend_id': 'f1', 'event_type': 'key_up', 'key_up': 'Escape'})
    assert ack['success'] is True and ack['payload'] == ''
    bad = admin(devloop, 'handle_user_input', {'user_input': {'frontend_id': 'f1'}})
    assert bad['success'] is False and bad['error_msg']
    assert admin(devloop, 'user_logout', {'sid': 'f1'})['success'] is True
