"""Metric sync (trainer.md §6.4), backoff (§3.2) and offline resume (§4.2)."""
from __future__ import annotations

import uuid as uuidlib

import requests

from loopnode.devloop import DevLoop
from loopnode.trainer.cancel import CancelToken
from tests.helpers import free_port, until
from tests.trainer.conftest import Harness, admin_get, seed_record, state_of, wait_executor, wait_state
from tests.trainer.logics import ScriptedLogic


def updates(loop: DevLoop) -> list[dict]:
    return admin_get(loop, '/trainings')['updates']


def passed(node, state: str) -> bool:
    active = node.controller.active
    return active is not None and any(s.value == state for s in active.history)


def test_nothing_new_is_synced_at_once(harness: Harness) -> None:
    """T12: no new best state → `confusion_matrix_synced` within 1 s, nothing sent."""
    logic = ScriptedLogic()
    logic.provide_new_model = False
    logic.raise_in['upload'] = RuntimeError('stop here')
    node = harness.connected(harness.node(logic))
    seed_record(harness, node.uuid, 'training_finished')  # resumed by the next repeat cycle, while connected
    until(lambda: node.controller.active, timeout=10)
    until(lambda: passed(node, 'confusion_matrix_synced'), timeout=5)
    assert updates(harness.loop) == []


def test_new_state_is_sent_and_acked(harness: Harness) -> None:
    """T12: a new best state with ack success → synced, no error; devloop has the TrainingOut."""
    logic = ScriptedLogic()
    logic.raise_in['upload'] = RuntimeError('stop here')
    node = harness.connected(harness.node(logic))
    seed_record(harness, node.uuid, 'training_finished')
    until(lambda: passed(node, 'confusion_matrix_synced'), timeout=10)
    assert 'sync_confusion_matrix' not in node.controller.active.errors.errors
    sent = updates(harness.loop)[-1]['payload']
    assert sent['payload']['trainer_id'] == node.uuid and sent['payload']['confusion_matrix']
    assert sent['payload']['hyperparameters'] == {'resolution': 320}


def test_disconnected_or_refused_sync_is_an_error(harness: Harness) -> None:
    """T12: socket off (muted) → back to `training_finished` with the error; ack success:false → the same."""
    node_uuid = str(uuidlib.uuid4())
    seed_record(harness, node_uuid, 'training_finished')
    node = harness.node(ScriptedLogic(), uuid=node_uuid, start=False)
    node.start()
    requests.put(f'{node.url}/socketio', data='off', timeout=5)
    until(lambda: node.controller.active and node.controller.active.errors.has_error_for('sync_confusion_matrix'),
          timeout=10)
    assert node.controller.active.errors.errors['sync_confusion_matrix'] == 'not connected to the Loop'
    assert state_of(node) == 'training_finished'
    node.stop()
    requests.post(f'{harness.loop.url}/admin/socket_faults',
                  json={'event': 'update_training', 'ack': {'success': False}}, timeout=5)
    again = harness.connected(harness.node(ScriptedLogic()))
    seed_record(harness, again.uuid, 'training_finished')
    until(lambda: again.controller.active and 'did not accept' in
          again.controller.active.errors.errors.get('sync_confusion_matrix', ''), timeout=10)
    assert state_of(again) == 'training_finished'


def test_backoff_waits_and_abort_during_a_wait(harness: Harness) -> None:
    """TF3: a step failing 4 times waits 5, 10, 20, 40 s (clock injected); abort during a wait cleans up within 1 s."""
    waits: list[float] = []

    def backoff_wait(token: CancelToken, seconds: float) -> bool:
        waits.append(seconds)
        return token.wait(60 if len(waits) >= 5 else 0.01)  # the 5th wait lasts until the abort
    logic = ScriptedLogic()
    logic.raise_in['prepare'] = RuntimeError('no data today')
    node = harness.node(logic, backoff_wait=backoff_wait)
    harness.begin(node)
    until(lambda: len(waits) >= 5, timeout=10)
    assert waits == [5, 10, 20, 40, 80]
    assert node.controller.active.errors.errors['prepare'] == 'no data today'
    harness.command(node, 'abort_training', {'timeout': 1})
    until(lambda: node.controller.active is None, timeout=5)
    assert not node.controller.record_file.exists()


def test_offline_resume_then_the_loop_returns(harness: Harness, tmp_path) -> None:
    """TF17: devloop unreachable at start, training in `train_model_downloaded` → runs offline; the metric sync
    backs off until devloop returns."""
    port = free_port()
    node_uuid = str(uuidlib.uuid4())
    seed_record(harness, node_uuid, 'train_model_downloaded')
    waits: list[float] = []

    def backoff_wait(token: CancelToken, seconds: float) -> bool:
        waits.append(seconds)
        return token.wait(0.3)
    node = harness.node(uuid=node_uuid, url=f'http://127.0.0.1:{port}', backoff_wait=backoff_wait,
                        env={'use_backdoor_controls': 'true'})
    wait_state(node, 'running')
    wait_executor(node)
    assert not node.loop_connected()
    requests.post(f'{node.url}/kill_training_process', timeout=5)
    until(lambda: node.controller.active.errors.errors.get('sync_confusion_matrix') == 'not connected to the Loop',
          timeout=10)
    until(lambda: len(waits) >= 2, timeout=10)
    loop = DevLoop(tmp_path / 'late-devloop')
    loop.start(port=port)
    try:
        until(lambda: passed(node, 'train_model_uploaded') or node.controller.active is None, timeout=30)
        assert any(u['payload']['payload']['trainer_id'] == node.uuid for u in updates(loop))
    finally:
        node.stop()
        loop.stop()


def test_loop_gone_mid_training(harness: Harness, tmp_path) -> None:
    """The Loop goes away during `running`: the training goes on, the sync backs off with its error, and when
    the Loop is back the training is uploaded; nothing done before is repeated (one upload per format)."""
    port = free_port()
    loop = DevLoop(tmp_path / 'own-devloop')
    loop.start(port=port)
    waits: list[float] = []

    def backoff_wait(token: CancelToken, seconds: float) -> bool:
        waits.append(seconds)
        return token.wait(0.3)
    node = harness.node(url=loop.url, backoff_wait=backoff_wait, env={'use_backdoor_controls': 'true'})
    try:
        until(lambda: node.loop_connected(), timeout=10)
        until(lambda: [n for n in requests.get(f'{loop.url}/admin/nodes', timeout=5).json()['nodes']
                       if n['uuid'] == node.uuid], timeout=10)
        ack = requests.post(f'{loop.url}/admin/trainers/{node.uuid}/begin_training', json={}, timeout=30).json()
        assert ack['ack']['success'] is True
        wait_state(node, 'running')
        wait_executor(node)
        loop.stop()
        until(lambda: not node.loop_connected(), timeout=10)
        assert state_of(node) == 'running'
        requests.post(f'{node.url}/kill_training_process', timeout=5)
        until(lambda: node.controller.active.errors.errors.get('sync_confusion_matrix') == 'not connected to the Loop',
              timeout=10)
        assert node.controller.record_file.load().training_state.value == 'training_finished'
        loop = DevLoop(tmp_path / 'own-devloop')
        loop.start(port=port)
        until(lambda: node.controller.active is None, timeout=30)
        uploads = [u['payload']['format'] for u in admin_get(loop, '/trainings')['model_uploads']]
        assert sorted(uploads) == ['mocked', 'mocked_2']
    finally:
        node.stop()
        loop.stop()
