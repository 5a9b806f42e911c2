"""The colour trainer as a real TrainerNode against devloop: a whole training with its subprocess, metrics,
upload and detections; and a training whose subprocess is killed mid-fit resumes from its checkpoint."""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from loopnode import trainer
from loopnode.devloop import DevLoop
from loopnode.devloop.seed_examples import example_seed_hooks
from loopnode.settings import Settings
from loopnode.examples.color_trainer.checkpoint import CHECKPOINT_FILE
from loopnode.examples.color_trainer.logic import ColorTrainerLogic
from tests.helpers import until

BOX_ID, POINT_ID = '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a2'


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[DevLoop]:
    devloop = DevLoop(tmp_path / 'devloop', seed='demo', seed_hooks=example_seed_hooks())
    devloop.start()
    try:
        yield devloop
    finally:
        devloop.stop()


@pytest.fixture
def node(tmp_path: Path, loop: DevLoop) -> Iterator[Any]:
    settings = Settings.from_env({'DATA_FOLDER': str(tmp_path / 'trainer'), 'NODE_PORT': '0', 'LOOP_HOST': loop.url,
                                  'LOOP_POLL_INTERVAL': '0.2', 'SHUTDOWN_GRACE_SEC': '5'}, node_type='trainer')
    trainer_node = trainer.TrainerNode(ColorTrainerLogic(), name='colour trainer', settings=settings)
    trainer_node.start()
    try:
        yield trainer_node
    finally:
        trainer_node.stop()


def _admin(loop: DevLoop, path: str, body: dict[str, Any] | None = None) -> Any:
    response = requests.post(loop.url + path, json=body or {}, timeout=40) if body is not None else \
        requests.get(loop.url + path, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _connected(loop: DevLoop, node: Any) -> bool:
    return any(n['uuid'] == node.uuid for n in _admin(loop, '/admin/nodes')['nodes'])


def _training_updates(loop: DevLoop) -> list[dict[str, Any]]:
    return [u['payload'] for u in _admin(loop, '/admin/trainings')['updates']]


def _begin(loop: DevLoop, node: Any, **hyperparameters: Any) -> None:
    until(lambda: _connected(loop, node), timeout=15, message='trainer connected')
    ack = _admin(loop, f'/admin/trainers/{node.uuid}/begin_training', {'hyperparameters': hyperparameters})['ack']
    assert ack['success'], ack


def _new_version(loop: DevLoop) -> dict[str, Any] | None:
    models = requests.get(loop.url + '/api/zauberzeug/projects/demo/models', timeout=5).json()['models']
    return next((m for m in models if m['version'] not in ('1.0', '1.1', '1.2')), None)


def _idle_after_training(node: Any) -> bool:
    return node.status_record()['state'] == 'idle'


@pytest.mark.timeout(90)
def test_a_training_uploads_a_color_blobs_model_with_a_real_confusion_matrix(loop: DevLoop, node: Any) -> None:
    """A whole training: the subprocess fits the model, update_training carries a confusion matrix of both
    categories, the new version has format color_blobs, and detections of the new model reach devloop."""
    _begin(loop, node)
    model = until(lambda: _new_version(loop), timeout=60, message='new model version uploaded')
    assert 'color_blobs' in model['formats']
    until(lambda: _idle_after_training(node) and _admin(loop, '/admin/received/detections')['detections'],
          timeout=60, message='detections uploaded and trainer idle')
    [update] = _training_updates(loop)
    matrix = update['payload']['confusion_matrix']
    assert set(matrix) == {BOX_ID, POINT_ID}
    assert all(m['tp'] > 0 and m['fn'] == 0 for m in matrix.values()), matrix
    detections = _admin(loop, '/admin/received/detections')['detections']
    assert any(str(model['version']) in str(d) for d in detections)


@pytest.mark.timeout(90)
def test_killing_the_training_process_mid_fit_resumes_from_the_checkpoint(loop: DevLoop, node: Any) -> None:
    """The subprocess is killed after its first checkpoint; the node retries, `_can_resume()` is true, the
    process continues from the checkpoint (`resuming at image` in the log) and the training finishes."""
    _begin(loop, node, seconds_per_image=1.0, checkpoint_every=1)
    logic = node.logic
    until(lambda: logic.training_active and logic._executor is not None and logic._executor.is_running()
          and (logic.training.training_path / CHECKPOINT_FILE).exists(), timeout=30, message='first checkpoint')
    log_path = logic._executor.log_path
    os.killpg(logic._executor.pid, signal.SIGKILL)
    model = until(lambda: _new_version(loop), timeout=60, message='model uploaded after the resume')
    assert 'color_blobs' in model['formats']
    assert 'resuming at image' in log_path.read_text()


@pytest.mark.timeout(90)
def test_a_retry_after_a_failed_attempt_is_not_failed_by_the_old_log_line(loop: DevLoop, node: Any) -> None:
    """The executor log is appended across attempts: the `training failed:` line of a failed attempt must not
    fail the retry that succeeds (it would be retried forever)."""
    from loopnode.examples.color_trainer.dataset import INPUT_FILE, TrainingInput
    _begin(loop, node, seconds_per_image=1.0, checkpoint_every=1)
    logic = node.logic
    until(lambda: logic.training_active and (logic.training.training_path / CHECKPOINT_FILE).exists(), timeout=30,
          message='first checkpoint')
    folder = logic.training.training_path
    image = Path(TrainingInput.read(folder / INPUT_FILE).in_sets('train', 'val')[-1].path)
    hidden = image.with_name(image.name + '.hidden')
    image.rename(hidden)
    until(lambda: logic.training_active and logic.errors.has_error_for('run_training'), timeout=30,
          message='the attempt without the image failed')
    assert 'training failed:' in (folder / 'last_training.log').read_text()
    hidden.rename(image)
    model = until(lambda: _new_version(loop), timeout=60, message='model uploaded after the retry')
    assert 'color_blobs' in model['formats']
