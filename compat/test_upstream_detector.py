"""Compatibility: an unmodified learning_loop_node 0.27.0 detector against devloop (issue 3, `make test-compat`).

Not part of `make test` (it lives outside `testpaths` and needs `.venv-compat`, which `make test-compat` creates).
The upstream node runs as a subprocess in `.venv-compat` with the tiny logic of `compat/run_upstream_detector.py`;
devloop runs in this process. Upstream's repeat cycle is fixed at 5 s and its outbox uploads every 5 s, so each
step below may take up to ~10 s.
"""
from __future__ import annotations

import io
import signal
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from PIL import Image

from loopnode.devloop import DevLoop
from tests.helpers import free_port, until

ROOT = Path(__file__).resolve().parents[1]
COMPAT_PYTHON = ROOT / '.venv-compat' / 'bin' / 'python'
RUNNER = ROOT / 'compat' / 'run_upstream_detector.py'
ORG, PROJECT = 'zauberzeug', 'demo'
STEP_TIMEOUT = 40.0


class UpstreamDetector:
    """The upstream detector subprocess: its URL, its data folder and its log (shown when a step fails)."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, data: Path, log_path: Path) -> None:
        self.process, self.url, self.data, self.log_path = process, url, data, log_path

    def log_tail(self, lines: int = 60) -> str:
        return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])

    def about(self) -> dict[str, Any]:
        return requests.get(f'{self.url}/about', timeout=5).json()

    def active_version(self) -> str | None:
        info = self.about().get('model_info')
        return info['version'] if info else None


@pytest.fixture(params=['open', 'login'])
def devloop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DevLoop]:
    """devloop without auth, and with `login` auth (upstream logs in with empty credentials, as on a real Loop)."""
    loop = DevLoop(tmp_path / 'devloop', auth=request.param)
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()


@pytest.fixture
def upstream(devloop: DevLoop, tmp_path: Path) -> Iterator[UpstreamDetector]:
    if not COMPAT_PYTHON.exists():
        pytest.fail(f'{COMPAT_PYTHON} is missing: run `make test-compat`, which installs learning_loop_node==0.27.0')
    data, log_path, port = tmp_path / 'upstream-data', tmp_path / 'upstream.log', free_port()
    data.mkdir()
    env = {'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path), 'DATA_FOLDER': str(data),
           'LOOP_HOST': f'127.0.0.1:{devloop.port}',  # upstream prepends http:// itself
           'LOOP_ORGANIZATION': ORG, 'LOOP_PROJECT': PROJECT}
    with log_path.open('wb') as log_file:
        process = subprocess.Popen([str(COMPAT_PYTHON), str(RUNNER), '--port', str(port)], env=env, cwd=tmp_path,
                                   stdout=log_file, stderr=subprocess.STDOUT)
    node = UpstreamDetector(process, f'http://127.0.0.1:{port}', data, log_path)
    try:
        until(lambda: process.poll() is None and requests.get(f'{node.url}/about', timeout=2).ok, 30,
              message='upstream detector answers GET /about')
        yield node
    except AssertionError as e:
        raise AssertionError(f'{e}\n--- upstream log ---\n{node.log_tail()}') from None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def detector_statuses(devloop: DevLoop) -> list[dict[str, Any]]:
    return requests.get(f'{devloop.url}/admin/statuses', timeout=5).json()['detectors']


def latest_status(devloop: DevLoop, name: str) -> dict[str, Any] | None:
    for entry in detector_statuses(devloop):
        if entry['latest'].get('name') == name:
            return entry['latest']
    return None


def metadata_of(received: dict[str, Any]) -> dict[str, Any]:
    """The metadata of a received image (devloop lists it as the object the node sent)."""
    metadata = received['metadata']
    assert isinstance(metadata, dict), metadata
    return metadata


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new('RGB', (64, 48), (200, 40, 90)).save(buffer, format='JPEG', quality=90)
    return buffer.getvalue()


def step(node: UpstreamDetector, cond: Any, message: str) -> Any:
    """Wait for one step; on failure show what the upstream node logged."""
    try:
        return until(cond, STEP_TIMEOUT, interval=0.2, message=message)
    except AssertionError as e:
        raise AssertionError(f'{e}\n--- upstream log ---\n{node.log_tail()}') from None


@pytest.mark.timeout(240)
def test_upstream_detector_follows_devloop(devloop: DevLoop, upstream: UpstreamDetector) -> None:
    """devloop fidelity (loop-protocol.md §11.7): an unmodified 0.27.0 detector downloads and loads the deployment
    target, posts its status, follows a target change, and its /upload reaches devloop with its metadata."""
    name = 'upstream-compat-detector'

    # 1. downloads and loads the deployment target of the demo seed (1.1, format mocked)
    step(upstream, lambda: upstream.active_version() == '1.1', 'upstream loads model 1.1')
    model_dir = upstream.data / 'models' / '1.1'
    assert (model_dir / 'file_1.txt').read_text() == 'content of file one'
    assert (model_dir / 'file_2.txt').read_text() == 'content of file two'
    assert (upstream.data / 'current_model').resolve() == model_dir.resolve()
    info = upstream.about()['model_info']
    assert info['id'] == '00000000-0000-0000-0000-000000000011'
    assert {c['name'] for c in info['categories']} >= {'some box', 'purple point'}

    # the tiny logic answers through upstream's REST API
    answer = requests.post(f'{upstream.url}/detect', files={'file': ('a.jpg', jpeg_bytes(), 'image/jpeg')},
                           headers={'autoupload': 'disabled'}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()['box_detections'][0]['model_name'] == '1.1'

    # 2. posts its status, visible in devloop
    status = step(upstream, lambda: (s := latest_status(devloop, name)) and s['current_model'] == '1.1' and s,
                  'devloop shows the upstream status with current_model 1.1')
    assert status['model_format'] == 'mocked'
    assert status['target_model'] == '1.1'

    # 3. follows a change of the deployment target
    target = requests.put(f'{devloop.url}/admin/{ORG}/projects/{PROJECT}/deployment/target',
                          json={'version': '1.2'}, timeout=5)
    assert target.status_code == 200, target.text
    step(upstream, lambda: upstream.active_version() == '1.2', 'upstream switches to model 1.2')
    assert (upstream.data / 'current_model').resolve() == (upstream.data / 'models' / '1.2').resolve()
    step(upstream, lambda: (s := latest_status(devloop, name)) and s['current_model'] == '1.2',
         'devloop shows the upstream status with current_model 1.2')

    # 4. an image sent to its /upload endpoint arrives in devloop with its metadata
    image = jpeg_bytes()
    upload = requests.post(f'{upstream.url}/upload', files=[('files', ('robot.jpg', image, 'image/jpeg'))],
                           params={'source': 'compat-test', 'creation_date': '2025-06-01T10:00:00'}, timeout=10)
    assert upload.status_code == 200, upload.text

    def received() -> list[dict[str, Any]]:
        images = requests.get(f'{devloop.url}/admin/received/images', params={'org': ORG, 'project': PROJECT},
                              timeout=5).json()['images']
        return [i for i in images if metadata_of(i).get('source') == 'compat-test']

    arrived = step(upstream, received, 'the uploaded image arrives in devloop')
    assert len(arrived) == 1
    metadata = metadata_of(arrived[0])
    assert metadata['created'] == '2025-06-01T10:00:00'
    assert 'picked_by_system' in metadata['tags']
    assert (arrived[0]['width'], arrived[0]['height']) == (64, 48)
    session = requests.Session()  # the image file needs a login cookie in `login` mode
    assert session.post(f'{devloop.url}/api/login', data={'username': '', 'password': ''}, timeout=5).ok
    stored = session.get(arrived[0]['file_url'], timeout=5)
    assert stored.status_code == 200 and stored.content == image  # JPEG kept byte for byte
