"""TrainerNode commands, refusals, status, slot, restart and idle rules (trainer.md §5, §8, §10)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.helpers import until
from tests.trainer.conftest import (Harness, admin_get, demo_details, emit, seed_record, state_of, wait_executor,
                                    wait_state)
from tests.trainer.logics import ScriptedLogic


def trainer_history(harness: Harness, node) -> list[dict]:
    return [h['payload'] for t in admin_get(harness.loop, '/statuses')['trainers'] if t['uuid'] == node.uuid
            for h in t['history']]


def test_begin_while_busy_is_refused(harness: Harness) -> None:
    """TF1: begin_training while a training runs → refused; the running training and its folder are untouched."""
    node = harness.node()
    harness.begin(node)
    wait_state(node, 'running')
    active = node.controller.active
    folder = active.training.training_path
    ack = harness.command(node, 'begin_training', {})
    assert ack == {'success': False, 'error_msg': f'training {active.training.id} is still active',
                   'payload': 'refused'}
    assert node.controller.active is active and folder.is_dir() and state_of(node) == 'running'


def test_begin_while_a_record_awaits_resume_is_refused(harness: Harness) -> None:
    """TF1: the same while a persisted record waits to be resumed (repeat muted by SKIP_REPEAT_ON_START)."""
    node = harness.node(env={'skip_repeat_on_start': 'true'})
    folder = seed_record(harness, node.uuid, 'data_downloaded')
    until(node.loop_connected)  # muted: no status, so devloop knows it by sid only
    sid = until(lambda: admin_get(harness.loop, '/nodes')['nodes'])[0]['sid']
    ack = requests.post(f'{harness.loop.url}/admin/trainers/{sid}/begin_training', json={}, timeout=20).json()['ack']
    stored_id = json.loads(node.controller.record_file.path.read_text())['id']
    assert ack == {'success': False, 'error_msg': f'training {stored_id} is still active', 'payload': 'refused'}
    assert folder.is_dir() and node.controller.record_file.exists() and node.controller.active is None


@pytest.mark.parametrize('change,reason', [({'training_number': '3'}, 'training_number'),
                                           ({'training_number': True}, 'training_number'),
                                           ({'categories': None}, 'categories')])
def test_malformed_begin_touches_nothing(harness: Harness, change: dict, reason: str) -> None:
    """TF2: `training_number: "3"` (or a bool) or no categories → success false with the reason; no folder
    created or deleted."""
    node = harness.connected(harness.node())
    old = harness.tmp_path / 'trainer' / 'zauberzeug' / 'demo' / 'trainings' / 'old-training'
    old.mkdir(parents=True)
    details = {k: v for k, v in (demo_details(harness.loop) | change).items() if v is not None}
    ack = emit(harness.loop, node, 'begin_training', 'zauberzeug', 'demo', details)
    assert ack['success'] is False and reason in ack['error_msg'] and ack['payload'] is None
    assert old.is_dir() and sorted(p.name for p in old.parent.iterdir()) == ['old-training']
    assert not (harness.tmp_path / 'trainer' / 'zauberzeug' / 'demo' / 'images').exists()
    assert not node.controller.record_file.exists()


def test_corrupt_record_is_set_aside(harness: Harness) -> None:
    """TF7: a corrupt last-training file → renamed `.corrupt-…`, the node reports `idle`."""
    node = harness.node(start=False)
    node.controller.record_file.path.write_text('{"id": "half a record",')
    node.start()
    until(lambda: list(node.controller.record_file.path.parent.glob('last_training__*.json.corrupt-*')))
    until(lambda: trainer_history(harness, node) and trainer_history(harness, node)[-1]['state'] == 'idle')
    assert not node.controller.record_file.exists()


def test_clear_training_data_raising(harness: Harness) -> None:
    """TF11: `_clear_training_data` raising → cleanup still completes, the node reports `idle`."""
    logic = ScriptedLogic()
    logic.raise_in['clear'] = RuntimeError('cannot clear')
    node = harness.connected(harness.node(logic))
    seed_record(harness, node.uuid, 'ready_for_cleanup')
    until(lambda: logic.clear_calls == 1 and node.controller.active is None and
          not node.controller.record_file.exists(), timeout=5)
    until(lambda: trainer_history(harness, node)[-1]['state'] == 'idle')


@pytest.mark.parametrize('hook,key', [('prepare', 'prepare'), ('start', 'run_training'),
                                      ('upload', 'upload_model'), ('detect', 'detecting'),
                                      ('metadata', 'upload_model')])
def test_a_raising_hook_sets_its_error(harness: Harness, hook: str, key: str) -> None:
    """A logic that raises in a hook: the step's error key (in update_trainer.errors), retried, training kept."""
    logic = ScriptedLogic()
    logic.raise_in[hook] = ValueError(f'{hook} is broken')
    node = harness.node(logic)
    harness.begin(node)
    if hook != 'prepare' and hook != 'start':
        wait_state(node, 'running')
        wait_executor(node)
        harness.command(node, 'stop_training')
    until(lambda: any(s['errors'].get(key) == f'{hook} is broken' for s in trainer_history(harness, node)),
          timeout=15)
    assert node.controller.active is not None and node.controller.record_file.exists()


def test_restart_event_exits_75(harness: Harness) -> None:
    """TF14: the `restart` event → the node asks to exit with 75."""
    node = harness.connected(harness.node())
    harness.command(node, 'restart')
    until(node.shutdown_requested.is_set, timeout=5)
    assert node.exit_code == 75


def test_restart_after_training(harness: Harness) -> None:
    """TF14: RESTART_AFTER_TRAINING → exit 75 after the cleanup of an aborted training."""
    node = harness.node(env={'restart_after_training': 'true'})
    harness.begin(node)
    wait_state(node, 'running')
    assert not node.shutdown_requested.is_set()
    harness.command(node, 'abort_training')
    until(node.shutdown_requested.is_set, timeout=5)
    assert node.exit_code == 75


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_slot_blocked_waiting_and_freed(harness: Harness, tmp_path: Path) -> None:
    """TF16: with TRAINING_SLOT_LOCK the second node reports `blocked`, refuses begin_training with the holder text,
    counts `blocked` as idle; a resumed training waits in `waiting_for_slot`; stopping the holder frees the slot."""
    lock = tmp_path / 'gpu.lock'
    first = harness.node(data=tmp_path / 'a', name='first', env={'training_slot_lock': str(lock)})
    clock = Clock()
    second = harness.node(data=tmp_path / 'b', name='second', clock=clock,
                          env={'training_slot_lock': str(lock), 'trainer_idle_timeout_sec': '60'})
    harness.begin(first)
    wait_state(first, 'running')
    assert state_of(second) == 'blocked'
    ack = harness.command(harness.connected(second), 'begin_training', {})
    assert ack['success'] is False and ack['payload'] == 'refused'
    assert ack['error_msg'].startswith('the training slot is held by pid ') and first.uuid in ack['error_msg']
    clock.now += 61
    until(second.shutdown_requested.is_set, timeout=5)  # blocked counts as idle
    assert second.exit_code == 0
    second.stop()
    third = harness.node(data=tmp_path / 'c', name='third', env={'training_slot_lock': str(lock)}, start=False)
    seed_record(harness, third.uuid, 'data_downloaded', data=tmp_path / 'c')
    third.start()
    wait_state(third, 'waiting_for_slot')
    first.stop()
    until(lambda: state_of(third) not in ('waiting_for_slot', 'blocked', 'idle'), timeout=5)


def test_idle_timeout_with_the_loop_unreachable(harness: Harness) -> None:
    """TF14: the idle timeout exits with 0, also while the Loop is unreachable."""
    from tests.helpers import free_port
    clock = Clock()
    node = harness.node(url=f'http://127.0.0.1:{free_port()}', clock=clock,
                        env={'trainer_idle_timeout_sec': '30'})
    until(lambda: node._idle_since is not None, timeout=5)
    assert not node.shutdown_requested.is_set()
    clock.now += 31
    until(node.shutdown_requested.is_set, timeout=5)
    assert node.exit_code == 0 and not node.loop_connected()


def test_socket_drop_reconnects_with_one_client(harness: Harness) -> None:
    """TF18: devloop drops the socket → the node reconnects; never two connections of this node at once."""
    node = harness.connected(harness.node())
    sid = [n for n in admin_get(harness.loop, '/nodes')['nodes'] if n['uuid'] == node.uuid][0]['sid']
    requests.post(f'{harness.loop.url}/admin/nodes/{sid}/disconnect', timeout=5)
    seen: list[int] = []

    def reconnected() -> bool:
        mine = [n for n in admin_get(harness.loop, '/nodes')['nodes'] if n['uuid'] == node.uuid]
        seen.append(len(mine))
        return bool(mine) and mine[0]['sid'] != sid
    until(reconnected, timeout=10)
    assert max(seen) == 1


def test_status_route_and_backdoor_force_status(harness: Harness) -> None:
    """§10: GET /status has the update_trainer record; POST /force_status_update sends one now."""
    node = harness.connected(harness.node(env={'use_backdoor_controls': 'true'}))
    body = requests.get(f'{node.url}/status', timeout=5).json()
    assert body['node']['state'] == 'idle' and body['node']['context'] is None and body['node']['uptime'] is None
    assert requests.post(f'{node.url}/force_status_update', timeout=5).json() == {'sent': True}
    assert requests.put(f'{node.url}/error_configuration', data=json.dumps({'crash_training': 'yes'}),
                        timeout=5).status_code == 400
    assert requests.post(f'{node.url}/steps', data='3', timeout=5).status_code == 409
    assert requests.put(f'{node.url}/provide_new_model', data='off', timeout=5).json() == 'off'
    assert node.logic.provide_new_model is False


def test_node_needs_restart_error_exits_75_and_keeps_the_record(harness: Harness) -> None:
    """§3.2: NodeNeedsRestartError from a hook → exit 75 at once; nothing persisted, the record stays."""
    from loopnode import NodeNeedsRestartError
    logic = ScriptedLogic()
    logic.raise_in['prepare'] = NodeNeedsRestartError('the GPU is gone')
    node = harness.node(logic)
    harness.begin(node)
    until(node.shutdown_requested.is_set, timeout=5)
    assert node.exit_code == 75
    assert node.controller.record_file.load().training_state.value == 'initialized'


def test_old_trainings_deleted_unless_kept(harness: Harness, tmp_path: Path) -> None:
    """§5.1 step 4: begin_training deletes old training folders of the project, not with KEEP_OLD_TRAININGS."""
    for keep, data in (('false', tmp_path / 'drop'), ('true', tmp_path / 'keep')):
        old = data / 'zauberzeug' / 'demo' / 'trainings' / 'old'
        old.mkdir(parents=True)
        node = harness.node(data=data, name=f'keep {keep}', env={'keep_old_trainings': keep})
        harness.begin(node)
        assert old.exists() == (keep == 'true')
        harness.command(node, 'abort_training')


def test_backdoor_reset_and_progress(harness: Harness) -> None:
    """§11 POST /reset aborts and deletes the record; §10 progress is reported while downloading (0…1)."""
    from tests.trainer.conftest import add_fault
    # slow enough that `data_downloading` and its progress are still there when a loaded machine looks
    add_fault(harness.loop, match={'method': 'GET', 'path': '/api/*/projects/*/images/*/main'}, latency_ms=1000)
    node = harness.node(env={'use_backdoor_controls': 'true'})
    harness.begin(node)
    wait_state(node, 'data_downloading')
    progress = until(lambda: node.controller.status_fields()['progress'], timeout=10)
    assert 0 < progress <= 1
    assert requests.post(f'{node.url}/reset', timeout=20).json() == {'detail': 'reset'}
    assert node.controller.active is None and not node.controller.record_file.exists()
    until(lambda: trainer_history(harness, node)[-1]['state'] == 'idle')


def test_the_end_of_a_finished_training_leaves_the_next_one_alone(harness: Harness, tmp_path: Path) -> None:
    """§5.1, §8: the end handler of a training that is no longer the active one (its thread raced a new
    begin_training) neither detaches the new training from the logic nor releases its slot."""
    from loopnode.trainer import MockTrainerLogic
    from loopnode.trainer.active import ActiveTraining
    logic = MockTrainerLogic()
    node = harness.node(logic, env={'training_slot_lock': str(tmp_path / 'slot.lock')})
    harness.begin(node, **demo_details(harness.loop))
    current = node.controller.active
    assert current is not None and node.controller.slot.held
    finished = ActiveTraining(node.controller.record_file.load(), node, node.controller.record_file)
    node.controller._on_end(finished, None)
    assert node.controller.active is current
    assert logic._active is current
    assert node.controller.slot.held
