"""Compatibility: an unmodified learning_loop_node 0.27.0 trainer completes a training against devloop.

`make test-compat` (needs `.venv-compat`). The upstream trainer runs as a subprocess with the small logic of
`compat/run_upstream_trainer.py`; devloop runs here. begin_training (through devloop's admin API) → metrics →
two formats uploaded to one model uuid → detections posted for every image → idle again. Upstream's repeat
cycle is fixed at 5 s and it sleeps 0.6-0.8 s per step, so this takes about half a minute.
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
RUNNER = ROOT / 'compat' / 'run_upstream_trainer.py'
STEP_TIMEOUT = 60.0


def admin(loop: DevLoop, path: str) -> Any:
    return requests.get(f'{loop.url}/admin{path}', timeout=10).json()


def trainer_states(loop: DevLoop, uuid: str) -> list[str]:
    return [h['payload']['state'] for t in admin(loop, '/statuses')['trainers'] if t['uuid'] == uuid
            for h in t['history']]


@pytest.fixture
def devloop(tmp_path: Path) -> Iterator[DevLoop]:
    loop = DevLoop(tmp_path / 'devloop')
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()


@pytest.fixture
def upstream(devloop: DevLoop, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    if not COMPAT_PYTHON.exists():
        pytest.fail(f'{COMPAT_PYTHON} is missing: run `make test-compat`, which installs learning_loop_node==0.27.0')
    data, log_path = tmp_path / 'upstream-data', tmp_path / 'upstream.log'
    data.mkdir()
    env = {'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path), 'DATA_FOLDER': str(data),
           'LOOP_HOST': f'127.0.0.1:{devloop.port}', 'LOOP_ORGANIZATION': 'zauberzeug', 'LOOP_PROJECT': 'demo'}
    with log_path.open('wb') as log_file:
        process = subprocess.Popen([str(COMPAT_PYTHON), str(RUNNER), '--port', str(free_port())], env=env,
                                   cwd=tmp_path, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        yield process, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.timeout(240)
def test_upstream_trainer_completes_a_training(devloop: DevLoop,
                                               upstream: tuple[subprocess.Popen[bytes], Path]) -> None:
    """§11.7: begin → model uploaded (two formats, one uuid) → detections posted → idle, for an upstream trainer."""
    process, log_path = upstream
    try:
        node = until(lambda: [n for n in admin(devloop, '/nodes')['nodes'] if n['node_type'] == 'trainer'
                              and n['uuid']], timeout=STEP_TIMEOUT, message='upstream trainer sends a status')[0]
        uuid = node['uuid']
        assert trainer_states(devloop, uuid)[-1] == 'idle'
        ack = requests.post(f'{devloop.url}/admin/trainers/{uuid}/begin_training', json={}, timeout=40).json()['ack']
        assert ack['success'] is True, ack
        until(lambda: len(admin(devloop, '/trainings')['model_uploads']) == 2, timeout=STEP_TIMEOUT,
              message='both formats uploaded')
        uploads = [u['payload'] for u in admin(devloop, '/trainings')['model_uploads']]
        assert sorted(u['format'] for u in uploads) == ['mocked', 'mocked_2']
        assert len({u['model_id'] for u in uploads}) == 1
        until(lambda: len(admin(devloop, '/received/detections')['detections']) == 10, timeout=STEP_TIMEOUT,
              message='detections of all 10 demo images posted')
        until(lambda: trainer_states(devloop, uuid)[-1] == 'idle', timeout=STEP_TIMEOUT, message='idle again')
        assert any(u['payload']['payload']['trainer_id'] == uuid for u in admin(devloop, '/trainings')['updates'])
        assert process.poll() is None
    except AssertionError as e:
        tail = '\n'.join(log_path.read_text(errors='replace').splitlines()[-60:])
        raise AssertionError(f'{e}\n--- upstream log ---\n{tail}') from None
