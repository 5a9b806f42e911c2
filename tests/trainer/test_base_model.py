"""Step `download_model` (trainer.md §6.2)."""
from __future__ import annotations

import requests

from loopnode.devloop import DEMO_MODELS
from tests.model_zips import model_json, zip_bytes
from tests.trainer.conftest import Harness, add_fault, disk_equals_memory, state_of, wait_state
from tests.helpers import until

BASE = DEMO_MODELS['1.1']


def test_base_model_download(harness: Harness) -> None:
    """T6: `train_model_downloaded`; base_model.json, file_1.txt and file_2.txt are in the training folder."""
    node = harness.node()
    node.logic.error_configuration.begin_training = True
    harness.begin(node, base_model_uuid=BASE)
    wait_state(node, 'train_model_downloaded', 'running')
    folder = node.controller.active.training.training_path
    assert (folder / 'file_1.txt').read_text() == 'content of file one'
    assert (folder / 'file_2.txt').read_text() == 'content of file two'
    assert '"id"' in (folder / 'base_model.json').read_text() and not (folder / 'model.json').exists()


def test_abort_during_base_model_download(harness: Harness) -> None:
    """T6: abort during the download → training cleared, file deleted."""
    node = harness.node()
    add_fault(harness.loop, match={'method': 'GET', 'path': '/api/*/projects/*/models/*/*/file'}, latency_ms=3000)
    harness.begin(node, base_model_uuid=BASE)
    wait_state(node, 'train_model_downloading')
    harness.command(node, 'abort_training')
    assert node.controller.active is None and not node.controller.record_file.exists()


def test_unknown_base_model(harness: Harness) -> None:
    """T7: the all-zero uuid → back to `data_downloaded`, `download_model` error, training kept."""
    node = harness.node()
    harness.begin(node, base_model_uuid='00000000-0000-0000-0000-000000000000')
    until(lambda: state_of(node) == 'data_downloaded'
          and node.controller.active.errors.has_error_for('download_model'), timeout=10)
    assert 'unknown model' in node.controller.active.errors.errors['download_model']
    assert disk_equals_memory(node)


def test_base_model_uuid_that_is_not_a_uuid_trains_from_scratch(harness: Harness) -> None:
    """§6.2: a base_model_uuid that is not a uuid → warning, from scratch."""
    node = harness.node()
    harness.begin(node, base_model_uuid='latest')
    wait_state(node, 'running')
    assert not (node.controller.active.training.training_path / 'base_model.json').exists()
    harness.command(node, 'abort_training')


def test_traversal_zip_is_refused(harness: Harness) -> None:
    """A base model zip with `../` entries: `download_model` error, nothing written outside the training folder."""
    content = zip_bytes({'model.json': model_json(id='x'), '../../evil.txt': b'owned'})
    response = requests.post(f'{harness.loop.url}/admin/zauberzeug/projects/demo/mocked?raw=true',
                             files={'files': ('model.zip', content)}, timeout=10)
    model_id = response.json()['id']
    node = harness.node()
    harness.begin(node, base_model_uuid=model_id)
    until(lambda: node.controller.active.errors.has_error_for('download_model'), timeout=10)
    assert 'unsafe' in node.controller.active.errors.errors['download_model']
    assert not list(harness.tmp_path.rglob('evil.txt'))
    assert state_of(node) == 'data_downloaded'
