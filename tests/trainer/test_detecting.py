"""Steps `detecting` and `upload_detections` (trainer.md §6.6, §6.7) and cleanup (§6.8)."""
from __future__ import annotations

import json
from pathlib import Path

import requests

from loopnode.devloop import DEMO_MODELS
from loopnode.trainer.active import ActiveTraining
from loopnode.trainer.detections import upload_detections
from loopnode.trainer.record import RecordFile
from tests.helpers import until
from tests.trainer.conftest import Harness, add_fault, posted_detections, seed_record, state_of
from tests.trainer.logics import ScriptedLogic

DETECTIONS_PATH = '/api/*/projects/*/detections'


def passed(node, state: str) -> bool:
    active = node.controller.active
    return active is not None and any(s.value == state for s in active.history)


def detecting_node(harness: Harness, model_uuid: str = DEMO_MODELS['1.1'], project: str = 'demo',
                   logic: ScriptedLogic | None = None):
    node = harness.connected(harness.node(logic or ScriptedLogic()))
    folder = seed_record(harness, node.uuid, 'train_model_uploaded', model_uuid_for_detecting=model_uuid,
                         project=project)
    # resumed by the next repeat cycle; a quick training may be over before the first look
    until(lambda: node.controller.active or not node.controller.record_file.exists(), timeout=10)
    return node, folder


def test_detection_with_the_demo_model(harness: Harness) -> None:
    """T14: demo model 1.1 → `detected` within 10 s, a detection file exists."""
    add_fault(harness.loop, match={'method': 'POST', 'path': DETECTIONS_PATH}, status=500)
    node, folder = detecting_node(harness)
    until(lambda: passed(node, 'detected'), timeout=10)
    assert (folder / 'detections_0.json').exists()
    assert len(json.loads((folder / 'detections_0.json').read_text())) == 10
    assert (folder / 'detection_model' / 'model.json').exists()


def test_abort_during_detection(harness: Harness) -> None:
    """T14: abort while detecting → no detection files, no last-training file."""
    logic = ScriptedLogic()
    logic.detect_command = ['sleep', '30']
    node, folder = detecting_node(harness, logic=logic)
    assert logic.detect_started.wait(10)
    harness.command(node, 'abort_training')
    assert not list(folder.glob('detections_*.json')) and not node.controller.record_file.exists()


def test_unknown_model_uuid(harness: Harness) -> None:
    """T14: unknown model uuid → back to `train_model_uploaded`, `detecting` error, uuid unchanged."""
    unknown = '00000000-0000-0000-0000-000000000999'
    node, _ = detecting_node(harness, unknown)
    until(lambda: node.controller.active.errors.has_error_for('detecting'), timeout=10)
    assert state_of(node) == 'train_model_uploaded'
    assert node.controller.active.training.model_uuid_for_detecting == unknown


def test_mock_detections_per_image(harness: Harness) -> None:
    """T15: 1+2+3+4 images in inbox/annotate/review/complete, one box, point and segmentation category → 10
    Detections, each with exactly 1 box, 1 point, 1 segmentation."""
    body = {'project': 't15', 'states': {'inbox': 1, 'annotate': 2, 'review': 3, 'complete': 4},
            'box_categories': 1, 'point_categories': 1, 'segmentation_categories': 1, 'trainings': 1}
    assert requests.post(f'{harness.loop.url}/admin/projects', json=body, timeout=10).status_code == 200
    models = requests.get(f'{harness.loop.url}/api/zauberzeug/projects/t15/models', timeout=5).json()['models']
    node, _ = detecting_node(harness, models[0]['id'], project='t15')
    until(lambda: node.controller.active is None, timeout=15)
    posted = posted_detections(harness.loop)
    assert len(posted) == 10 and len({d['payload']['image_id'] for d in posted}) == 10
    for d in posted:
        p = d['payload']
        assert (len(p['box_detections']), len(p['point_detections']), len(p['segmentation_detections'])) == (1, 1, 1)
        box = p['box_detections'][0]
        assert (box['x'], box['y'], box['width'], box['height'], box['confidence']) == (1, 2, 30, 40, 0.99)


class RecordingIO:
    """Wraps a TrainingIO to record every cursor it stores."""

    def __init__(self, io) -> None:
        self._io = io
        self.cursors: list[tuple[int, int]] = []

    def save_detection_cursor(self, index: int, offset: int) -> None:
        self.cursors.append((index, offset))
        self._io.save_detection_cursor(index, offset)

    def __getattr__(self, name: str):
        return getattr(self._io, name)


def test_detection_upload_cursors(harness: Harness) -> None:
    """T16: one file → offset 0, index 1; two files × 4 entries with batch size 2 → offset 2 then 0 per file;
    devloop error → `upload_detections` error with the HTTP text, retried from the cursors."""
    node = harness.connected(harness.node(start=True))
    seed_record(harness, 'someone-else', 'detected', data=harness.tmp_path / 'other')
    training = RecordFile(harness.tmp_path / 'other', 'someone-else').load()
    active = ActiveTraining(training, node, RecordFile(harness.tmp_path / 'other', 'someone-else'))
    ids = requests.get(f'{harness.loop.url}/api/zauberzeug/projects/demo/data', timeout=5).json()['image_ids']
    active.io.save_detections([{'image_id': ids[0]}], 0)
    recording = RecordingIO(active.io)
    active.io = recording  # type: ignore[assignment]
    assert upload_detections(active) == 1
    assert recording.cursors == [(1, 0)]
    assert active.io.load_detection_upload_file_index() == 1 and active.io.load_detection_upload_progress() == 0
    recording.cursors.clear()
    recording._io.delete_detections()
    for k in (0, 1):
        active.io.save_detections([{'image_id': i} for i in ids[4 * k:4 * k + 4]], k)
    assert upload_detections(active, batch_size=2) == 8
    assert recording.cursors == [(0, 2), (1, 0), (1, 2), (2, 0)]
    before = len(posted_detections(harness.loop))
    recording._io.delete_detections()
    active.io.save_detections([{'image_id': i} for i in ids[:4]], 0)
    add_fault(harness.loop, match={'method': 'POST', 'path': DETECTIONS_PATH}, status=500, body={'detail': 'x'})
    try:
        upload_detections(active, batch_size=2)
        raise AssertionError('expected an error')
    except Exception as e:  # noqa: BLE001
        assert str(e).startswith('could not upload detections. HTTP 500')
    requests.delete(f'{harness.loop.url}/admin/faults', timeout=5)
    assert upload_detections(active, batch_size=2) == 4
    assert len(posted_detections(harness.loop)) == before + 4


def test_detection_upload_step_outcomes(harness: Harness) -> None:
    """T16: devloop error → back to `detected` with the error; then `ready_for_cleanup`; no files → at once."""
    fault = add_fault(harness.loop, match={'method': 'POST', 'path': DETECTIONS_PATH}, status=500)
    node = harness.connected(harness.node())
    ids = requests.get(f'{harness.loop.url}/api/zauberzeug/projects/demo/data', timeout=5).json()['image_ids']
    seed_record(harness, node.uuid, 'detected', files={'detections_0.json': json.dumps([{'image_id': i} for i in ids])})
    until(lambda: node.controller.active and node.controller.active.errors.has_error_for('upload_detections'),
          timeout=5)
    assert state_of(node) == 'detected'
    requests.delete(f'{harness.loop.url}/admin/faults/{fault}', timeout=5)
    harness.command(node, 'abort_training')  # T16: abort → cleared
    assert node.controller.active is None
    seed_record(harness, node.uuid, 'detected')  # no detection files at all: resumed and cleaned up at once
    until(lambda: not node.controller.record_file.exists() and node.controller.active is None, timeout=5)


def test_cleanup_removes_everything(harness: Harness) -> None:
    """T17: a detection file, offset 42, index 1 and the last-training file → all removed, training None."""
    node = harness.connected(harness.node())
    folder = seed_record(harness, node.uuid, 'ready_for_cleanup', files={
        'detections_0.json': '[]', 'detection_uploading_progress.txt': '42', 'detection_uploading_json_index.txt': '1'})
    until(lambda: not node.controller.record_file.exists() and node.controller.active is None, timeout=5)
    assert not list(Path(folder).glob('detection*'))
    assert state_of(node) == 'idle'


def test_shutdown_after_an_accepted_batch_keeps_its_cursor(harness: Harness, monkeypatch) -> None:
    """§6.7, §5.3: a batch the Loop accepted just as shutdown began is stored in the cursor, so the resumed
    upload does not post it a second time."""
    from loopnode.trainer.errors import TrainingCancelled
    node = harness.connected(harness.node(start=True))
    seed_record(harness, 'someone-else', 'detected', data=harness.tmp_path / 'other')
    record_file = RecordFile(harness.tmp_path / 'other', 'someone-else')
    active = ActiveTraining(record_file.load(), node, record_file)
    ids = requests.get(f'{harness.loop.url}/api/zauberzeug/projects/demo/data', timeout=5).json()['image_ids']
    active.io.save_detections([{'image_id': i} for i in ids[:4]], 0)
    before = len(posted_detections(harness.loop))
    real_post = node.loop_http.post

    def post_then_shut_down(*args, **kwargs):
        response = real_post(*args, **kwargs)
        active.begin_shutdown()  # SIGTERM arrives while the answer is on its way
        return response
    monkeypatch.setattr(node.loop_http, 'post', post_then_shut_down)
    try:
        upload_detections(active, batch_size=2)
        raise AssertionError('expected the shutdown to cancel the upload')
    except TrainingCancelled:
        pass
    monkeypatch.setattr(node.loop_http, 'post', real_post)
    resumed = ActiveTraining(record_file.load(), node, record_file)
    assert upload_detections(resumed, batch_size=2) == 2
    posted = [d['payload']['image_id'] for d in posted_detections(harness.loop)[before:]]
    assert sorted(posted) == sorted(ids[:4])


def test_detecting_again_drops_detection_files_of_an_earlier_attempt(harness: Harness) -> None:
    """§6.6: a detecting step that is run again (retry, or resume after a crash) starts from no detection
    files, so a file left by the earlier attempt is never uploaded."""
    stale = '00000000-0000-0000-0000-00000000dead'
    node = harness.connected(harness.node(ScriptedLogic()))
    seed_record(harness, node.uuid, 'train_model_uploaded', model_uuid_for_detecting=DEMO_MODELS['1.1'],
                files={'detections_1.json': json.dumps([{'image_id': stale}])})
    until(lambda: not node.controller.record_file.exists() and node.controller.active is None, timeout=15)
    posted = [d['payload']['image_id'] for d in posted_detections(harness.loop)]
    assert len(posted) == 10 and stale not in posted
