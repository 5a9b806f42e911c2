"""Step `run_training` (trainer.md §6.3), stop versus abort (§5.2), executors on abort (§7)."""
from __future__ import annotations

import os
import uuid as uuidlib
from pathlib import Path

import requests

from loopnode.devloop import DEMO_MODELS
from tests.helpers import until
from tests.trainer.conftest import (Harness, admin_get, disk_equals_memory, model_uploads, seed_record, state_of,
                                    wait_executor,
                                    wait_state)
from tests.trainer.logics import ScriptedLogic


def process_alive(pid: int) -> bool:
    try:
        return Path(f'/proc/{pid}/stat').read_text().split()[2] != 'Z'
    except (FileNotFoundError, IndexError):
        return False


def test_log_error_returns_to_train_model_downloaded(harness: Harness) -> None:
    """T2: from `train_model_downloaded` the state reaches `running`; a log error brings it back within 6 s."""
    node_uuid = str(uuidlib.uuid4())
    seed_record(harness, node_uuid, 'train_model_downloaded')
    node = harness.node(uuid=node_uuid)
    wait_state(node, 'running')
    node.logic.error_configuration.crash_training = True
    until(lambda: state_of(node) == 'train_model_downloaded'
          and node.controller.active.errors.errors.get('run_training') == 'mocked crash',
          timeout=9)  # the log is checked every 5 s: 6 s idle, more on a loaded machine, less than two checks


def test_stop_in_running_finishes_the_training(harness: Harness) -> None:
    """T8: executor running in `running`; stop_training → `training_finished` within 2 s; disk == memory."""
    logic = ScriptedLogic()
    logic.fail_sync = True  # keeps the training in `training_finished` (the sync step is retried later)
    node = harness.node(logic)
    harness.begin(node)
    wait_state(node, 'running')
    wait_executor(node)
    assert harness.command(node, 'stop_training')['success'] is True
    wait_state(node, 'training_finished', timeout=5)
    assert disk_equals_memory(node)
    assert node.controller.record_file.load().training_state.value == 'training_finished'


def test_abort_in_running(harness: Harness) -> None:
    """T10: abort → cleared within 1 s of the ack, no upload request, file deleted, subprocess gone within 2 s."""
    node = harness.node()
    harness.begin(node)
    wait_state(node, 'running')
    wait_executor(node)
    pid = node.logic.executor.pid
    assert harness.command(node, 'abort_training')['success'] is True
    until(lambda: node.controller.active is None, timeout=5)
    assert not node.controller.record_file.exists()
    until(lambda: not process_alive(pid), timeout=5)
    log = requests.get(f'{harness.loop.url}/admin/requests', timeout=5).json()['requests']
    assert not [r for r in log if '/models/latest/' in r['path']] and model_uploads(harness.loop) == []


def test_resume_path_and_graceful_kill(harness: Harness) -> None:
    """T11: with `_can_resume()` true the resume path starts the executor; killing it gracefully → finished."""
    logic = ScriptedLogic()
    logic.can_resume = True
    logic.fail_sync = True
    node_uuid = str(uuidlib.uuid4())
    seed_record(harness, node_uuid, 'train_model_downloaded')
    node = harness.node(logic, uuid=node_uuid, env={'use_backdoor_controls': 'true'})
    wait_state(node, 'running')
    wait_executor(node)
    response = requests.post(f'{node.url}/kill_training_process', timeout=5)
    assert response.status_code == 200
    wait_state(node, 'training_finished', timeout=8)


def test_exit_code_without_stop_is_an_error_with_stop_a_wind_down(harness: Harness) -> None:
    """TF15: exit code 1 and no log error without a stop → `run_training` error and retry; with a stop → wind-down."""
    logic = ScriptedLogic()
    logic.command = ['bash', '-c', 'sleep 0.3; exit 1']
    node = harness.node(logic)
    harness.begin(node)
    until(lambda: node.controller.active.errors.errors.get('run_training') == 'training process exited with code 1',
          timeout=10)
    assert state_of(node) == 'train_model_downloaded'
    harness.command(node, 'abort_training')
    logic.command = ['bash', '-c', "trap 'exit 1' TERM; while true; do sleep 0.1; done"]
    logic.fail_sync = True
    harness.begin(node)
    wait_state(node, 'running')
    wait_executor(node)
    harness.command(node, 'stop_training')
    wait_state(node, 'training_finished', timeout=5)
    assert 'run_training' not in node.controller.active.errors.errors


def test_shutdown_in_running_resumes_at_train_model_downloaded(harness: Harness) -> None:
    """TF10 (in process): shutdown during `running` persists nothing; the restart resumes at train_model_downloaded."""
    node_uuid = str(uuidlib.uuid4())
    node = harness.node(uuid=node_uuid)
    harness.begin(node)
    wait_state(node, 'running')
    wait_executor(node)
    pid = node.logic.executor.pid
    node.stop()
    assert not process_alive(pid)
    assert node.controller.record_file.load().training_state.value == 'train_model_downloaded'
    again = harness.node(uuid=node_uuid)
    wait_state(again, 'running')


def test_abort_kills_detection_executors_and_grandchildren(harness: Harness) -> None:
    """TF8: abort kills every executor of the logic, also one started by `_detect`, with its grandchildren."""
    logic = ScriptedLogic()
    logic.detect_command = ['bash', '-c', 'sleep 300 & echo grandchild $!; wait']
    node_uuid = str(uuidlib.uuid4())
    seed_record(harness, node_uuid, 'train_model_uploaded', model_uuid_for_detecting=DEMO_MODELS['1.1'])
    node = harness.node(logic, uuid=node_uuid)
    harness.connected(node)
    assert logic.detect_started.wait(15)
    detect_log = node.controller.active.training.training_path / 'detect' / 'detect.log'
    until(lambda: 'grandchild' in detect_log.read_text(), timeout=5)
    grandchild = int(detect_log.read_text().split('grandchild ')[1].split()[0])
    assert process_alive(grandchild)
    assert harness.command(node, 'abort_training')['success'] is True
    until(lambda: not process_alive(grandchild), timeout=5)
    assert node.controller.active is None and not list(node.controller.record_file.path.parent.glob('last_*.json'))
    assert admin_get(harness.loop, '/received/detections')['detections'] == []
    assert os.getpid()  # the test process itself is untouched


def test_a_stale_log_error_does_not_fail_the_retry(harness: Harness) -> None:
    """§6.3: the log is appended across attempts; "CUDA out of memory" of a failed attempt is not reported for
    the next one, which exits 0 and lets the training go on (before: every retry failed on the old line)."""
    class Recording(ScriptedLogic):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str | None] = []

        def _get_executor_error_from_log(self) -> str | None:
            error = super()._get_executor_error_from_log()
            self.seen.append(error)
            return error

    logic = Recording()
    logic.command = ['bash', '-c', 'if [ -e attempt1 ]; then echo fine; exit 0; fi; touch attempt1; '
                                   'echo "RuntimeError: CUDA out of memory. Tried to allocate 2 GiB"; exit 1']
    node = harness.node(logic, backoff_wait=lambda token, seconds: token.wait(0.05))
    harness.begin(node)
    until(lambda: 'graphics card is out of memory' in logic.seen and logic.seen[-1] is None
          and state_of(node) not in ('running', 'train_model_downloaded'), timeout=30,
          message='the retry got past run_training')
    assert logic.seen[:2] == ['graphics card is out of memory', None], logic.seen[:5]  # the first retry passed


def test_the_training_executors_are_the_nodes(harness: Harness) -> None:
    """§7: the logic's executors are in the node's registry, so the kill before an os._exit reaches them too."""
    logic = ScriptedLogic()
    logic.command = ['sh', '-c', 'sleep 300 & echo grandchild $!; wait']
    node = harness.node(logic)
    harness.begin(node)
    wait_executor(node)
    log_path = node.logic.executor.log_path
    until(lambda: 'grandchild' in log_path.read_text(), timeout=5)
    grandchild = int(log_path.read_text().split('grandchild ')[1].split()[0])
    assert node.executors.running() == [node.logic.executor]
    assert node.executors.kill_all() == 1
    until(lambda: not process_alive(grandchild), timeout=5)
