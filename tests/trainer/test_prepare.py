"""Step `prepare` (trainer.md §6.1), stop and abort while downloading, resume of a first download."""
from __future__ import annotations

import uuid as uuidlib

from loopnode.devloop import DevLoop
from tests.helpers import until
from tests.trainer.conftest import (Harness, add_fault, demo_details, disk_equals_memory, emit, state_of,
                                    wait_state)

IMAGE_FILES = '/api/*/projects/*/images/*/main'


def slow_images(loop: DevLoop, ms: int = 1500) -> None:
    add_fault(loop, match={'method': 'GET', 'path': IMAGE_FILES}, latency_ms=ms)


def test_prepare_succeeds(harness: Harness) -> None:
    """T3: `data_downloaded`, no `prepare` error, disk == memory, image files present."""
    node = harness.node()
    node.logic.error_configuration.begin_training = True  # keep it from running past the next step
    harness.begin(node)
    wait_state(node, 'train_model_downloaded', 'running', timeout=15)
    training = node.controller.active.training
    assert 'prepare' not in node.controller.active.errors.errors
    assert len(training.image_data) == 4 and training.skipped_image_count == 0
    assert {i['set'] for i in training.image_data} == {'train', 'test'}
    for image in training.image_data:
        assert (training.images_path / f'{image["id"]}.jpg').stat().st_size > 0
    until(lambda: disk_equals_memory(node))


def test_stop_ignored_and_abort_clears_while_downloading(harness: Harness) -> None:
    """T4, TF9: stop in `data_downloading` is ignored (ack success, logged); abort clears it and deletes the file."""
    node = harness.node()
    slow_images(harness.loop)
    harness.begin(node)
    wait_state(node, 'data_downloading')
    assert harness.command(node, 'stop_training') == {'success': True, 'error_msg': None, 'payload': None}
    assert state_of(node) == 'data_downloading' and node.controller.active is not None
    assert harness.command(node, 'abort_training')['success'] is True
    assert node.controller.active is None
    assert not node.controller.record_file.exists()
    assert state_of(node) == 'idle'


def test_unknown_project_keeps_the_training(harness: Harness) -> None:
    """T5: unknown project → back to `initialized` within 10 s, `prepare` error set, training kept, disk == memory."""
    node = harness.connected(harness.node())
    ack = emit(harness.loop, node, 'begin_training', 'zauberzeug', 'no_such_project', demo_details(harness.loop))
    assert ack['success'] is True
    until(lambda: state_of(node) == 'initialized' and node.controller.active.errors.has_error_for('prepare'),
          timeout=10)
    assert 'HTTP 404' in node.controller.active.errors.errors['prepare']
    assert node.controller.status_fields()['errors']['prepare']
    assert disk_equals_memory(node)


def test_missing_and_corrupt_images_are_skipped(harness: Harness) -> None:
    """§6.1: an image answering 404 and one that is not a JPEG drop out; skipped_image_count counts them."""
    node = harness.node()
    node.logic.error_configuration.begin_training = True
    ids = __import__('requests').get(f'{harness.loop.url}/api/zauberzeug/projects/demo/data?state=complete',
                                     timeout=5).json()['image_ids']
    add_fault(harness.loop, match={'method': 'GET', 'path': f'/api/*/projects/*/images/{ids[0]}/main'}, status=404)
    add_fault(harness.loop, match={'method': 'GET', 'path': f'/api/*/projects/*/images/{ids[1]}/main'}, status=200,
              body_text='not a jpeg', content_type='image/jpeg')
    harness.begin(node)
    wait_state(node, 'train_model_downloaded', 'running')
    training = node.controller.active.training
    assert sorted(i['id'] for i in training.image_data) == sorted(ids[2:])
    assert training.skipped_image_count == 2
    assert not (training.images_path / f'{ids[1]}.jpg').exists()


def test_cached_images_are_not_fetched_again(harness: Harness) -> None:
    """§6.1 step 3: a second training of the project downloads no image that is already cached."""
    node = harness.node()
    harness.begin(node)
    wait_state(node, 'running')
    harness.command(node, 'abort_training')
    requests = __import__('requests')
    requests.post(f'{harness.loop.url}/admin/reset', timeout=5)  # empties the request log; the cache stays
    harness.begin(node)
    wait_state(node, 'running')
    log = requests.get(f'{harness.loop.url}/admin/requests', timeout=5).json()['requests']
    assert not [r for r in log if r['path'].endswith('/main')]
    harness.command(node, 'abort_training')


def test_crash_during_first_prepare_resumes_from_initialized(harness: Harness) -> None:
    """TF6: the record is written at begin_training, so a stop during the first download resumes at `initialized`."""
    node_uuid = str(uuidlib.uuid4())
    node = harness.node(uuid=node_uuid)
    slow_images(harness.loop, 3000)
    harness.begin(node)
    wait_state(node, 'data_downloading')
    node.stop()
    stored = node.controller.record_file.load()
    assert stored is not None and stored.training_state.value == 'initialized'
    __import__('requests').delete(f'{harness.loop.url}/admin/faults', timeout=5)
    again = harness.node(uuid=node_uuid)
    again.logic.error_configuration.begin_training = True
    wait_state(again, 'data_downloading', 'data_downloaded', 'train_model_downloaded', 'running', timeout=10)
    until(lambda: again.controller.active and again.controller.active.training.image_data, timeout=15)
    assert again.controller.active.training.id == stored.id
