"""kill -9 soak (`make test-slow`): one training, the trainer killed at a random moment and restarted, 10 times."""
from __future__ import annotations

import collections
import logging
import random
import time
from pathlib import Path

import pytest
import requests

from loopnode.devloop import DevLoop
from tests.helpers import until
from tests.trainer.process import TrainerProcess, kill_group_leftovers, mock_training_processes

log = logging.getLogger(__name__)

PHASES = ('data_downloading', 'running', 'train_model_uploading', 'detecting', 'detection_uploading')
FAULTS = [  # slow enough that every phase can be hit
    {'match': {'method': 'GET', 'path': '/api/*/projects/*/images/*/main'}, 'latency_ms': 150},
    {'match': {'method': 'PUT', 'path': '/api/*/projects/*/trainings/*/models/latest/*/file'}, 'latency_ms': 400},
    {'match': {'method': 'GET', 'path': '/api/*/projects/*/models/*/*/file'}, 'latency_ms': 300},
    {'match': {'method': 'POST', 'path': '/api/*/projects/*/detections'}, 'latency_ms': 400},
]


def one_run(loop: DevLoop, tmp: Path, rng: random.Random, run: int) -> dict:
    requests.post(f'{loop.url}/admin/reset', timeout=10)
    for fault in FAULTS:
        requests.post(f'{loop.url}/admin/faults', json=fault, timeout=5)
    data = tmp / f'run{run}'
    target = PHASES[run % len(PHASES)]  # every phase twice; the moment inside it is random
    node = TrainerProcess(data, loop.url, INFERENCE_BATCH_SIZE='2').start()
    killed_in = None
    restarts = 0
    try:
        until(lambda: any(n['uuid'] == node.uuid for n in
                          requests.get(f'{loop.url}/admin/nodes', timeout=5).json()['nodes']), timeout=15)
        ack = requests.post(f'{loop.url}/admin/trainers/{node.uuid}/begin_training', json={}, timeout=30).json()
        assert ack['ack']['success'] is True
        deadline = time.monotonic() + 90
        last_stop = 0.0
        while time.monotonic() < deadline:
            state = node.state()
            if killed_in is None and state == target:
                time.sleep(rng.uniform(0, 0.3))  # noqa: TID251 - a random moment inside the phase, on purpose
                node.process.kill()
                node.wait(10)
                killed_in = target
                restarts += 1
                node = TrainerProcess(data, loop.url, INFERENCE_BATCH_SIZE='2').start()
                continue
            if state == 'running' and (killed_in is not None or target != 'running') \
                    and time.monotonic() - last_stop > 1.0 and mock_training_processes(data):
                last_stop = time.monotonic()  # until the node is connected (404) and really running, retry
                requests.post(f'{loop.url}/admin/trainers/{node.uuid}/stop_training', json={}, timeout=30)
            if state == 'idle' and node.record() is None and killed_in is not None:
                break
            if state == 'idle' and node.record() is None and killed_in is None:
                killed_in = 'missed'  # the phase passed between two polls
                break
            time.sleep(0.02)  # noqa: TID251 - polling a subprocess's state
        final_state = node.state()
    finally:
        node.stop()
    orphans = mock_training_processes(data)
    kill_group_leftovers(orphans)
    uploads = [r['payload'] for r in requests.get(f'{loop.url}/admin/trainings', timeout=5).json()['model_uploads']]
    per_format = collections.Counter(u['format'] for u in uploads)
    model_ids = {u['model_id'] for u in uploads}
    posted = requests.get(f'{loop.url}/admin/received/detections', timeout=5).json()['detections']
    per_image = collections.Counter(d['payload']['image_id'] for d in posted)
    return {'run': run, 'target': target, 'killed_in': killed_in, 'final': final_state,
            'per_format': dict(per_format), 'models': len(model_ids), 'images': len(per_image),
            'max_posts_per_image': max(per_image.values() or [0]), 'orphans': len(orphans), 'restarts': restarts,
            'reposted': sum(1 for n in per_image.values() if n > 1)}


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_kill_9_soak(devloop: DevLoop, tmp_path: Path) -> None:
    """Soak: 10 trainings, the trainer killed (-9) once per training at a random moment of one phase (each phase
    twice) and restarted: every run ends idle with exactly one model per format, every image's detections posted
    once (a kill during a detection POST re-posts that one batch), no orphan process."""
    rng = random.Random(20261201)
    results = [one_run(devloop, tmp_path, rng, run) for run in range(10)]
    for r in results:
        log.warning('soak run %(run)d: killed in %(killed_in)s, final %(final)s, uploads %(per_format)s, '
                    'models %(models)d, images %(images)d, max posts per image %(max_posts_per_image)d, '
                    're-posted images %(reposted)d, orphans %(orphans)d', r)
    for r in results:
        assert r['final'] == 'idle', r
        assert r['per_format'] == {'mocked': 1, 'mocked_2': 1} and r['models'] == 1, r
        assert r['images'] == 10, r
        if r['killed_in'] == 'detection_uploading':
            # the batch in flight at the kill may have reached the Loop without its answer reaching us: it is
            # posted again (at-least-once for that one batch, INFERENCE_BATCH_SIZE=2 detections here)
            assert r['max_posts_per_image'] <= 2 and r['reposted'] <= 2, r
        else:
            assert r['max_posts_per_image'] == 1, r
        assert r['orphans'] == 0, r
    assert sum(r['killed_in'] not in (None, 'missed') for r in results) >= 8, results
