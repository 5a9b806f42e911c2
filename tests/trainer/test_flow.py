"""A whole training against devloop with the mock logic, and status reporting."""
from __future__ import annotations

import pytest
import requests

from tests.helpers import until
from tests.trainer.conftest import (Harness, admin_get, model_uploads, posted_detections, state_of, wait_executor,
                                   wait_state)


@pytest.mark.timeout(60)
def test_full_training_with_stop(harness: Harness) -> None:
    """T9: stop in `running` → wind-down: model uploaded in both formats to one uuid, detections posted, idle."""
    node = harness.node()
    harness.begin(node)
    wait_state(node, 'running')
    wait_executor(node)  # before the process runs, a stop is an abort (§5.2): no upload
    assert harness.command(node, 'stop_training')['success'] is True
    until(lambda: node.controller.active is None, timeout=30)
    uploads = model_uploads(harness.loop)
    assert sorted(u['format'] for u in uploads) == ['mocked', 'mocked_2']
    assert len({u['model_id'] for u in uploads}) == 1
    detections = posted_detections(harness.loop)
    assert len(detections) == 10  # every demo image once
    assert state_of(node) == 'idle'
    assert not node.controller.record_file.exists()


def test_status_every_cycle(harness: Harness) -> None:
    """T19: update_trainer reaches devloop every LOOP_POLL_INTERVAL with id = node uuid; idle without training."""
    node = harness.connected(harness.node())
    until(lambda: len([t for t in admin_get(harness.loop, '/statuses')['trainers'] if t['uuid'] == node.uuid][0]
                      ['history']) >= 3, timeout=10)
    latest = [t for t in admin_get(harness.loop, '/statuses')['trainers'] if t['uuid'] == node.uuid][0]['latest']['payload']
    assert latest['id'] == node.uuid and latest['state'] == 'idle' and latest['errors'] == {}
    assert latest['architecture'] == 'mocked' and [m['name'] for m in latest['pretrained_models']] == [
        'small', 'medium', 'large']
    status = requests.get(f'{node.url}/status', timeout=5).json()
    assert status['node']['state'] == 'idle' and status['loop']['connected'] is True
