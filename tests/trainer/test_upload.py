"""Step `upload_model` (trainer.md §6.5): the answer table, uuid file, progress file, crash after the uploads."""
from __future__ import annotations

from pathlib import Path

import requests

from loopnode.devloop import DEMO_MODELS
from tests.helpers import until
from tests.trainer.conftest import (Harness, add_fault, admin_get, disk_equals_memory, model_uploads, seed_record,
                                    state_of, wait_state)
from tests.trainer.logics import ScriptedLogic

UPLOAD_PATH = '/api/*/projects/*/trainings/*/models/latest/*/file'


def passed(node, state: str) -> bool:
    active = node.controller.active
    return active is not None and any(s.value == state for s in active.history)


def uploading_node(harness: Harness, logic: ScriptedLogic | None = None, number: int = 7, **kwargs):
    """A connected node that resumes a training at `confusion_matrix_synced` and stops before detecting."""
    logic = logic or ScriptedLogic()
    logic.raise_in.setdefault('detect', RuntimeError('not detecting in this test'))
    node = harness.connected(harness.node(logic, **kwargs))
    folder = seed_record(harness, node.uuid, 'confusion_matrix_synced', training_number=number)
    # resumed by the next repeat cycle; a quick training may be over before the first look
    until(lambda: node.controller.active or not node.controller.record_file.exists(), timeout=10)
    return node, folder


def test_upload_stores_the_uuid(harness: Harness) -> None:
    """T13: uuid stored, `train_model_uploaded`, no error; both formats on one model."""
    node, folder = uploading_node(harness)
    until(lambda: passed(node, 'train_model_uploaded'), timeout=10)
    uploads = model_uploads(harness.loop)
    assert sorted(u['format'] for u in uploads) == ['mocked', 'mocked_2']
    model_id = uploads[0]['model_id']
    assert (folder / 'uploaded_model_uuid.txt').read_text() == model_id
    assert (folder / 'model_uploading_progress.txt').read_text() == 'mocked,mocked_2'
    assert node.controller.active.training.model_uuid_for_detecting == model_id
    assert 'upload_model' not in node.controller.active.errors.errors
    stored = node.controller.record_file.load()
    assert stored.model_uuid_for_detecting == model_id


def test_abort_during_upload(harness: Harness) -> None:
    """T13: abort during the upload → cleared; the answer that comes later is discarded."""
    add_fault(harness.loop, match={'method': 'PUT', 'path': UPLOAD_PATH}, latency_ms=1500)
    node, folder = uploading_node(harness)
    wait_state(node, 'train_model_uploading')
    harness.command(node, 'abort_training')
    assert node.controller.active is None and not node.controller.record_file.exists()
    assert not (folder / 'uploaded_model_uuid.txt').exists()


def test_permanent_4xx_gives_up(harness: Harness) -> None:
    """T13: a permanent 4xx (422) → `ready_for_cleanup`, `upload_model` error, no uuid, no detections."""
    add_fault(harness.loop, match={'method': 'PUT', 'path': UPLOAD_PATH}, status=422, body={'detail': 'bad model'})
    node, folder = uploading_node(harness)
    until(lambda: node.controller.active is None, timeout=10)
    history = [h['payload'] for t in admin_get(harness.loop, '/statuses')['trainers'] if t['uuid'] == node.uuid
               for h in t['history']]
    final = [s for s in history if s['state'] == 'ready_for_cleanup'][-1]  # the status sent once at cleanup
    assert final['errors']['upload_model'].startswith('model upload failed: HTTP 422')
    assert not (folder / 'uploaded_model_uuid.txt').exists()
    assert admin_get(harness.loop, '/received/detections')['detections'] == []


def test_5xx_is_retried_and_the_training_kept(harness: Harness) -> None:
    """§6.5: 500 → ModelUploadFailedError, retried with backoff; the training stays (disk == memory)."""
    add_fault(harness.loop, match={'method': 'PUT', 'path': UPLOAD_PATH}, status=500)
    node, _ = uploading_node(harness)
    until(lambda: node.controller.active.errors.has_error_for('upload_model'), timeout=10)
    assert 'HTTP 500' in node.controller.active.errors.errors['upload_model']
    assert state_of(node) == 'confusion_matrix_synced'
    assert disk_equals_memory(node)


def test_409_uses_the_returned_uuid(harness: Harness) -> None:
    """TF4: re-uploading a format → 409 with detail.id → that uuid is used and the training continues."""
    node, folder = uploading_node(harness, number=1)  # demo training 1 already has model 1.2 in `mocked`
    until(lambda: passed(node, 'train_model_uploaded'), timeout=10)
    assert node.controller.active.training.model_uuid_for_detecting == DEMO_MODELS['1.2']
    assert [u['format'] for u in model_uploads(harness.loop)] == ['mocked_2']


def test_crash_after_all_uploads_resumes_with_the_stored_uuid(harness: Harness) -> None:
    """TF5: every format uploaded, `train_model_uploaded` not persisted → resume reads uploaded_model_uuid.txt."""
    logic = ScriptedLogic()
    logic.raise_in['detect'] = RuntimeError('not detecting in this test')
    node = harness.connected(harness.node(logic))
    seed_record(harness, node.uuid, 'confusion_matrix_synced', files={
        'model_uploading_progress.txt': 'mocked,mocked_2', 'uploaded_model_uuid.txt': DEMO_MODELS['1.2']})
    until(lambda: passed(node, 'train_model_uploaded'), timeout=5)
    assert node.controller.active.training.model_uuid_for_detecting == DEMO_MODELS['1.2']
    assert model_uploads(harness.loop) == []


class ListsModelJson(ScriptedLogic):
    def _get_latest_model_files(self) -> dict[str, list[str]]:
        files = super()._get_latest_model_files()
        folder = self.training.training_path
        (folder / 'base_model.json').write_text('{"id": "base"}')
        (folder / 'model.json').write_text('{"id": "own"}')
        return {'mocked': files['mocked'] + [str(folder / 'base_model.json'), str(folder / 'model.json')]}


def test_model_json_among_the_files(harness: Harness) -> None:
    """TF12: base_model.json and the logic's own model.json listed → upload succeeds with one generated model.json."""
    node, folder = uploading_node(harness, ListsModelJson())
    until(lambda: passed(node, 'train_model_uploaded'), timeout=10)
    upload = model_uploads(harness.loop)[0]
    assert 'base_model.json' in upload['files'] and 'model.json' not in upload['files']
    zip_response = requests.get(f'{harness.loop.url}/api/zauberzeug/projects/demo/models/{upload["model_id"]}/'
                                'mocked/file', timeout=5)
    import io
    import json
    import zipfile
    info = json.loads(zipfile.ZipFile(io.BytesIO(zip_response.content)).read('model.json'))
    assert info['conf_threshold'] == 0.5 and info['id'] == upload['model_id']


def test_two_trainers_upload_concurrently(harness: Harness, tmp_path: Path) -> None:
    """TF13: two trainers with different data folders upload at the same time, each in its own folders."""
    add_fault(harness.loop, match={'method': 'PUT', 'path': UPLOAD_PATH}, latency_ms=300)
    nodes = []
    for n, name in ((11, 'first'), (12, 'second')):
        logic = ScriptedLogic()
        logic.raise_in['detect'] = RuntimeError('stop here')
        node = harness.connected(harness.node(logic, data=tmp_path / name, name=name))
        seed_record(harness, node.uuid, 'confusion_matrix_synced', data=tmp_path / name, training_number=n)
        nodes.append(node)
    for node in nodes:
        until(lambda node=node: passed(node, 'train_model_uploaded'), timeout=15)
    ids = {node.controller.active.training.model_uuid_for_detecting for node in nodes}
    assert len(ids) == 2
    for node, name in zip(nodes, ('first', 'second')):
        assert str(node.controller.active.training.training_path).startswith(str(tmp_path / name))
        assert (node.controller.active.training.training_path / 'upload' / 'model.json').exists()


def test_shutdown_as_an_upload_is_answered_keeps_its_uuid(harness: Harness, monkeypatch) -> None:
    """§6.5, §5.3: a format the Loop accepted just as shutdown began is recorded (uuid and progress file), so
    the resumed training does not upload it again."""
    from loopnode.trainer.active import ActiveTraining
    from loopnode.trainer.errors import TrainingCancelled
    from loopnode.trainer.record import RecordFile
    from loopnode.trainer.upload import upload_all_formats
    logic = ScriptedLogic()
    node = harness.connected(harness.node(logic))
    folder = seed_record(harness, 'someone-else', 'confusion_matrix_synced', data=harness.tmp_path / 'other',
                         training_number=7)
    record_file = RecordFile(harness.tmp_path / 'other', 'someone-else')
    active = ActiveTraining(record_file.load(), node, record_file)
    logic._attach_training(active)
    real_upload = node.loop_http.upload

    def upload_then_shut_down(*args, **kwargs):
        response = real_upload(*args, **kwargs)
        active.begin_shutdown()  # SIGTERM arrives while the answer is on its way
        return response
    monkeypatch.setattr(node.loop_http, 'upload', upload_then_shut_down)
    try:
        upload_all_formats(active, logic)
        raise AssertionError('expected the shutdown to cancel the upload')
    except TrainingCancelled:
        pass
    first = model_uploads(harness.loop)
    assert len(first) == 1
    assert (folder / 'uploaded_model_uuid.txt').read_text() == first[0]['model_id']
    assert (folder / 'model_uploading_progress.txt').read_text() == first[0]['format']
