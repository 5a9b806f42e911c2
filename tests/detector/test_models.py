"""ModelManager against a real devloop over loopback (detector.md §7): follow, versions, failures, pruning."""
from __future__ import annotations

import io
import json
import logging
import os
import threading
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import requests

from loopnode.data import ImageMetadata, ModelInformation
from loopnode.detector.models import ModelManager, VersionRequestError
from loopnode.devloop import DEMO_ORG, DEMO_PROJECT, DevLoop
from loopnode.errors import NodeNeedsRestartError
from loopnode.loop.http import LoopHttp
from loopnode.settings import Settings
from tests.fixtures_devloop import devloop  # noqa: F401 - shared fixture
from tests.helpers import until

IMAGE = np.zeros((8, 8, 3), dtype=np.uint8)
PROJECT = f'/api/{DEMO_ORG}/projects/{DEMO_PROJECT}'
UNREACHABLE_LOOP = 'http://127.0.0.1:9'


class VersionLogic:
    """Answers with its model version as tag; remembers whether it was closed."""

    def __init__(self, info: ModelInformation) -> None:
        self.info = info
        self.closed = False

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        return ImageMetadata(tags=[self.info.version])

    def close(self) -> None:
        self.closed = True


class Factory:
    """Format `mocked`; `build` fails for versions in `failing` and records every build with the slot state."""

    model_format = 'mocked'

    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing if failing is not None else set()
        self.builds: list[str] = []
        self.states_during_build: list[str] = []
        self.manager: ModelManager | None = None

    def build(self, info: ModelInformation) -> VersionLogic:
        self.builds.append(info.version)
        if self.manager is not None:
            self.states_during_build.append(self.manager.slot.state)
        assert info.model_root_path is not None and os.path.isabs(info.model_root_path)
        if info.version in self.failing:
            raise RuntimeError(f'cannot build {info.version}')
        return VersionLogic(info)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """A ModelManager with its started `model` worker; `cycle()` plays one repeat cycle in mode idle."""

    def __init__(self, data: Path, loop_url: str, factory: Factory, clock: Callable[[], float] | None = None,
                 **env: str) -> None:
        values = {'DATA_FOLDER': str(data), 'LOOP_HOST': loop_url, 'LOOP_ORGANIZATION': DEMO_ORG,
                  'LOOP_PROJECT': DEMO_PROJECT}
        values.update(env)
        self.settings = Settings.from_env(values, node_type='detector')
        self.http = LoopHttp(self.settings)
        self.changes = 0
        self.factory = factory
        kwargs: dict[str, Any] = {} if clock is None else {'clock': clock}
        self.manager = ModelManager(self.settings, factory, self.http, on_change=self._changed, **kwargs)
        factory.manager = self.manager
        self.manager.worker.start()
        until(self.manager.startup_done.is_set, message='start-up load ended')

    def _changed(self) -> None:
        self.changes += 1

    def cycle(self) -> None:
        self.manager.poll_target()

    def run_until(self, cond: Callable[[], Any], timeout: float = 20.0, message: str = '') -> Any:
        """Repeat cycles until `cond()` holds."""
        def step() -> Any:
            self.manager.poll_target()
            return cond()
        return until(step, timeout=timeout, interval=0.05, message=message)

    def active(self) -> str | None:
        return self.manager.slot.active_version

    def stop(self) -> None:
        self.manager.worker.stop()
        self.manager.worker.join(10)
        self.http.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(loop_url: str, factory: Factory | None = None, **kwargs: Any) -> Harness:
        h = Harness(tmp_path / 'data', loop_url, factory or Factory(), **kwargs)
        made.append(h)
        return h
    yield make
    for h in made:
        h.stop()


def admin(loop: DevLoop, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f'{loop.url}/admin{path}', timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def set_target(loop: DevLoop, version: str) -> None:
    admin(loop, 'PUT', f'/{DEMO_ORG}/projects/{DEMO_PROJECT}/deployment/target', json={'version': version})


def add_fault(loop: DevLoop, method: str, path: str, **rule: Any) -> int:
    return int(admin(loop, 'POST', '/faults', json={'match': {'method': method, 'path': path}, **rule})['id'])


def downloads(loop: DevLoop) -> int:
    entries = admin(loop, 'GET', '/requests')['requests']
    return sum(1 for e in entries if e['path'].endswith('/mocked/file'))


def upload_version(loop: DevLoop) -> str:
    """R1: a new version of format `mocked` (flat zip with one file); returns its version."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as archive:
        archive.writestr('weights.bin', b'w' * 100)
    response = requests.post(f'{loop.url}{PROJECT}/mocked', timeout=10,
                             files=[('files', ('model.zip', buffer.getvalue(), 'application/zip'))])
    assert response.status_code == 200, response.text
    return str(response.json()['version'])


def write_local_model(data: Path, version: str) -> None:
    folder = data / 'models' / version
    folder.mkdir(parents=True)
    (folder / 'model.json').write_text(json.dumps({'id': f'local-{version}', 'organization': DEMO_ORG,
                                                   'project': DEMO_PROJECT, 'version': version}))
    os.symlink(f'models/{version}', data / 'current_model')


def test_follow_loop_fetches_the_demo_target(devloop: DevLoop, harness: Callable[..., Harness],
                                            tmp_path: Path) -> None:
    """D6 (model part): target 1.1, format mocked → models/1.1 holds file_1.txt, file_2.txt, model.json."""
    h = harness(devloop.url)
    assert h.manager.readiness_reason() == 'no model'
    # not busy: the job has also committed (current_model, status sync), which follows the swap
    h.run_until(lambda: h.active() == '1.1' and not h.manager.busy, message='1.1 active and committed')
    data = tmp_path / 'data'
    assert sorted(p.name for p in (data / 'models' / '1.1').iterdir()) == ['file_1.txt', 'file_2.txt', 'model.json']
    assert os.readlink(data / 'current_model') == 'models/1.1'
    info = h.manager.slot.active_info
    assert info is not None and 'purple point' in [c.name for c in info.categories]
    assert info.model_root_path == str(data / 'models' / '1.1')
    assert h.manager.slot.evaluate(IMAGE)[0].tags == ['1.1']
    assert h.manager.readiness_reason() is None and h.manager.status_error() is None
    assert h.changes >= 1
    assert h.manager.status_dict() == {'state': 'active', 'active_version': '1.1', 'target': '1.1',
                                       'version_control': 'follow_loop', 'loop_target': '1.1',
                                       'last_error': None, 'skipped_versions': []}
    assert list((data / 'tmp').iterdir()) == []


def test_version_control_transitions(devloop: DevLoop, harness: Callable[..., Harness]) -> None:
    """D7 at manager level: every field of the ModelVersionResponse at each step."""
    h = harness(devloop.url)
    m = h.manager

    def expect(current: str, target: str, loop: str, local: list[str], mode: str) -> None:
        assert m.version_response() == {'current_version': current, 'target_version': target,
                                        'loop_version': loop, 'local_versions': local, 'version_control': mode}

    expect('None', 'None', 'None', [], 'follow_loop')
    h.run_until(lambda: h.active() == '1.1')
    expect('1.1', '1.1', '1.1', ['1.1'], 'follow_loop')
    m.set_version_control('1.0')
    expect('1.1', '1.0', '1.1', ['1.1'], 'specific_version')
    h.run_until(lambda: h.active() == '1.0')
    expect('1.0', '1.0', '1.1', ['1.0', '1.1'], 'specific_version')
    m.set_version_control('"pause"')
    for _ in range(3):
        h.cycle()
    expect('1.0', '1.0', '1.1', ['1.0', '1.1'], 'pause')
    m.set_version_control('follow_loop')
    expect('1.0', '1.1', '1.1', ['1.0', '1.1'], 'follow_loop')
    h.run_until(lambda: h.active() == '1.1')
    expect('1.1', '1.1', '1.1', ['1.0', '1.1'], 'follow_loop')
    assert m.target_version == '1.1' and m.version_control == 'follow_loop'


def test_version_request_errors_leave_mode_and_target(devloop: DevLoop, harness: Callable[..., Harness]) -> None:
    """F18 and §7.2 errors: 400 texts; mode and target unchanged on every error."""
    h = harness(devloop.url)
    m = h.manager
    h.run_until(lambda: h.active() == '1.1')
    for text, message in (('1.x.y', 'Invalid version number'), ('bogus', 'Invalid version number'),
                          ('9.9', 'No Model with version 9.9')):
        with pytest.raises(VersionRequestError) as error:
            m.set_version_control(text)
        assert str(error.value) == message
        assert (m.version_control, m.target_version) == ('follow_loop', '1.1')
    add_fault(devloop, 'GET', f'{PROJECT}/models', status=500, body={'detail': 'db down'})
    with pytest.raises(VersionRequestError) as error:
        m.set_version_control('1.2')
    assert str(error.value) == 'Failed to load models from learning loop: HTTP 500: {"detail": "db down"}'
    assert (m.version_control, m.target_version) == ('follow_loop', '1.1')
    m.set_version_control('1.1')  # already the target: no Loop call needed
    assert (m.version_control, m.target_version) == ('specific_version', '1.1')


def test_local_versions_switch_without_the_loop(tmp_path: Path, harness: Callable[..., Harness]) -> None:
    """§7.2 step 3 and §7.8: start-up load from current_model with the Loop unreachable; local switch."""
    data = tmp_path / 'data'
    write_local_model(data, '0.0')
    (data / 'models' / '0.5').mkdir()
    (data / 'models' / '0.5' / 'model.json').write_text(json.dumps(
        {'id': 'local-0.5', 'organization': DEMO_ORG, 'project': DEMO_PROJECT, 'version': '0.5'}))
    (data / 'models' / 'notes').mkdir()
    h = harness(UNREACHABLE_LOOP)
    assert h.active() == '0.0' and h.manager.readiness_reason() is None
    h.cycle()  # the failed poll is only a warning
    assert h.manager.status_error() is None
    assert h.manager.version_response()['loop_version'] == 'None'
    assert h.manager.version_response()['local_versions'] == ['0.0', '0.5']
    h.manager.set_version_control('0.5')
    h.run_until(lambda: h.active() == '0.5')
    assert os.readlink(data / 'current_model') == 'models/0.5'
    with pytest.raises(VersionRequestError, match='^Failed to load models from learning loop: ConnectionError'):
        h.manager.set_version_control('1.0')


def test_failed_download_retried_with_backoff(devloop: DevLoop, harness: Callable[..., Harness]) -> None:
    """F17 (+ F27 at manager level): specific_version retries 5 s, 10 s later; the error text is set, then cleared."""
    clock = FakeClock()
    h = harness(devloop.url, clock=clock, VERSION_CONTROL_DEFAULT='pause')
    add_fault(devloop, 'GET', f'{PROJECT}/models/*/mocked/file', status=500, body={'detail': 'disk on fire'},
              times=2)
    h.manager.set_version_control('1.0')
    h.cycle()
    until(lambda: h.manager.status_error() is not None)
    assert h.manager.status_error() == 'Could not update model: DownloadError: HTTP 500: {"detail": "disk on fire"}'
    assert downloads(devloop) == 1 and h.changes >= 1
    for _ in range(3):
        h.cycle()
    clock.now += 4.9
    h.cycle()
    assert downloads(devloop) == 1  # still backing off
    clock.now += 0.1
    h.cycle()
    until(lambda: downloads(devloop) == 2)
    until(lambda: h.manager.status_dict()['state'] == 'initializing' and not h.manager.busy)
    clock.now += 9.9
    h.cycle()
    assert downloads(devloop) == 2
    clock.now += 0.1
    h.run_until(lambda: h.active() == '1.0')
    assert downloads(devloop) == 3 and h.manager.status_error() is None
    assert h.manager.version_control == 'specific_version'


def test_body_that_is_not_a_zip_is_a_transport_failure(devloop: DevLoop, harness: Callable[..., Harness],
                                                       tmp_path: Path) -> None:
    """§7.4: a 200 whose body is not a zip fails the update, deletes the temp file and keeps the model serving."""
    data = tmp_path / 'data'
    write_local_model(data, '0.0')
    add_fault(devloop, 'GET', f'{PROJECT}/models/*/mocked/file', status=200, body={'not': 'a zip'}, times=1)
    clock = FakeClock()
    h = harness(devloop.url, clock=clock)
    h.cycle()
    until(lambda: h.manager.status_error() is not None)
    assert str(h.manager.status_error()).startswith('Could not update model: download is not a zip file')
    assert h.active() == '0.0' and list((data / 'tmp').iterdir()) == []
    assert not (data / 'models' / '1.1').exists()
    clock.now += 5
    h.run_until(lambda: h.active() == '1.1')


def test_three_build_failures_skip_the_version(devloop: DevLoop, harness: Callable[..., Harness],
                                              tmp_path: Path) -> None:
    """F20: the version is skipped with the §7.6 text; the old model keeps serving; no exit; a new target recovers."""
    clock = FakeClock()
    data = tmp_path / 'data'
    write_local_model(data, '0.0')
    factory = Factory({'1.1'})
    h = harness(devloop.url, factory, clock=clock)
    for attempt in range(1, 4):
        h.cycle()
        until(lambda: factory.builds.count('1.1') == attempt and not h.manager.busy)
        assert h.manager.slot.evaluate(IMAGE)[0].tags == ['0.0']
        assert not (data / 'models' / '1.1').exists()  # artifact failure: the folder is deleted
        clock.now += 300
    assert h.manager.status_error() == ('Could not update model: version 1.1 failed 3 times; '
                                        'waiting for a new target')
    assert h.manager.status_dict()['skipped_versions'] == ['1.1']
    for _ in range(5):
        h.cycle()
        clock.now += 1000
    assert factory.builds.count('1.1') == 3 and h.manager.worker.is_alive()
    h.manager.set_version_control('0.0')  # back to the running version: nothing pending, error cleared
    assert h.manager.status_error() is None and h.manager.status_dict()['skipped_versions'] == []
    h.manager.set_version_control('follow_loop')
    assert h.manager.status_dict()['skipped_versions'] == []  # target changed: 1.1 is tried again
    until(lambda: h.cycle() or factory.builds.count('1.1') == 4)
    set_target(devloop, '1.2')
    h.run_until(lambda: h.active() == '1.2')
    assert h.manager.status_error() is None and h.manager.status_dict()['skipped_versions'] == []


def test_exclusive_build_falls_back_to_previous(devloop: DevLoop, harness: Callable[..., Harness],
                                               tmp_path: Path) -> None:
    """F19: the previous model is rebuilt and serves; never stuck in Updating; both failing → Initializing,
    and the next good target recovers."""
    data = tmp_path / 'data'
    write_local_model(data, '0.0')
    factory = Factory({'1.1'})
    h = harness(devloop.url, factory, EXCLUSIVE_MODEL_BUILD='true')
    h.cycle()
    until(lambda: factory.builds == ['0.0', '1.1', '0.0'] and not h.manager.busy)
    assert factory.states_during_build == ['initializing', 'updating', 'updating']
    assert h.active() == '0.0' and h.manager.slot.state == 'active'
    assert h.manager.status_error() == ('Could not update model: build of version 1.1 failed: '
                                        'RuntimeError: cannot build 1.1')
    assert os.readlink(data / 'current_model') == 'models/0.0'
    factory.failing.add('0.0')
    h.manager.set_version_control('1.1')  # names it again: retried at once
    h.cycle()
    until(lambda: factory.builds.count('1.1') == 2 and not h.manager.busy)
    assert h.manager.slot.state == 'initializing' and h.active() is None
    assert h.manager.readiness_reason() == 'no model'
    set_target(devloop, '1.2')
    h.manager.set_version_control('follow_loop')
    h.run_until(lambda: h.active() == '1.2')
    assert h.manager.slot.state == 'active' and h.manager.status_error() is None


def test_keep_models_after_five_updates(devloop: DevLoop, harness: Callable[..., Harness], tmp_path: Path) -> None:
    """F22: KEEP_MODELS=3 after 5 successful updates leaves exactly 3 version folders, the active one among them."""
    new_versions = [upload_version(devloop), upload_version(devloop)]
    h = harness(devloop.url, KEEP_MODELS='3')
    for version in ['1.1', '1.0', '1.2', *new_versions]:
        set_target(devloop, version)
        h.run_until(lambda v=version: h.active() == v)
    local = h.manager.version_response()['local_versions']
    assert len(local) == 3 and new_versions[-1] in local
    assert local == ['1.2', *new_versions]


def test_no_chdir_during_a_full_update(devloop: DevLoop, harness: Callable[..., Harness],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """F34: os.chdir patched to raise; download, unzip, build, swap, commit and prune never call it."""
    calls: list[str] = []

    def forbidden(path: Any) -> None:
        calls.append(str(path))
        raise AssertionError('os.chdir called')
    monkeypatch.setattr(os, 'chdir', forbidden)
    h = harness(devloop.url, KEEP_MODELS='1')
    h.run_until(lambda: h.active() == '1.1')
    set_target(devloop, '1.2')
    h.run_until(lambda: h.active() == '1.2')
    assert calls == []


def test_startup_build_failure(tmp_path: Path, harness: Callable[..., Harness]) -> None:
    """§7.8: a failing start-up build is an artifact failure; the folder current_model points to is kept."""
    data = tmp_path / 'data'
    write_local_model(data, '0.0')
    h = harness(UNREACHABLE_LOOP, Factory({'0.0'}))
    assert h.manager.slot.state == 'initializing' and h.manager.readiness_reason() == 'no model'
    assert h.manager.status_error() == ('Could not update model: build of version 0.0 failed: '
                                        'RuntimeError: cannot build 0.0')
    assert (data / 'models' / '0.0' / 'model.json').exists()


def test_soft_reload_and_reset(devloop: DevLoop, harness: Callable[..., Harness], tmp_path: Path) -> None:
    """soft_reload restores the default mode and rebuilds current_model, deleting nothing; reset retires the logic."""
    h = harness(devloop.url)
    h.run_until(lambda: h.active() == '1.1')
    first = h.manager.slot._loaded.logic  # type: ignore[union-attr]
    h.manager.set_version_control('pause')
    h.manager.soft_reload()
    until(lambda: h.factory.builds == ['1.1', '1.1'] and not h.manager.busy)
    assert h.manager.version_control == 'follow_loop' and h.active() == '1.1' and first.closed
    assert h.manager.version_response()['local_versions'] == ['1.1']
    h.manager.reset()
    assert h.manager.slot.state == 'initializing' and h.manager.target_version is None
    h.run_until(lambda: h.active() == '1.1')  # the folder is reused: no new download
    assert downloads(devloop) == 1


def test_needs_restart_from_build_ends_the_worker(tmp_path: Path, harness: Callable[..., Harness]) -> None:
    """F21 (manager part): NodeNeedsRestartError from build leaves the worker through Worker's restart hook."""
    class Gone(Factory):
        def build(self, info: ModelInformation) -> VersionLogic:
            raise NodeNeedsRestartError('GPU is gone')

    data = tmp_path / 'data'
    write_local_model(data, '0.0')
    restarted = threading.Event()
    settings = Settings.from_env({'DATA_FOLDER': str(data), 'LOOP_HOST': UNREACHABLE_LOOP,
                                  'LOOP_ORGANIZATION': DEMO_ORG, 'LOOP_PROJECT': DEMO_PROJECT}, node_type='detector')
    http = LoopHttp(settings)
    manager = ModelManager(settings, Gone(), http, on_change=lambda: None)
    manager.worker.on_restart = restarted.set
    manager.worker.start()
    try:
        until(restarted.is_set)
        assert manager.startup_done.is_set()
    finally:
        manager.worker.stop()
        manager.worker.join(5)
        http.close()


def test_model_list_without_unused_fields_still_sets_a_version(devloop: DevLoop, harness: Callable[..., Harness],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """§5.7: an entry without `created`/`formats` (unused by the node) and with unknown keys is accepted."""
    h = harness(devloop.url)
    h.run_until(lambda: h.active() == '1.1')
    listed = requests.get(f'{devloop.url}{PROJECT}/models', timeout=10).json()['models']
    entry = next(m for m in listed if m['version'] == '1.0')
    slim = {'id': entry['id'], 'version': '1.0', 'labels': {'new': 'field'}}
    add_fault(devloop, 'GET', f'{PROJECT}/models', status=200, body={'models': [slim]})
    with caplog.at_level(logging.DEBUG, logger='loopnode.detector.models.loop_queries'):
        h.manager.set_version_control('1.0')
    assert (h.manager.version_control, h.manager.target_version) == ('specific_version', '1.0')
    assert "ignoring keys ['labels'], missing optional ['formats', 'created', 'comment', 'host']" in caplog.text
    h.run_until(lambda: h.active() == '1.0')


def test_model_list_entry_without_its_id_is_still_an_invalid_answer(devloop: DevLoop,
                                                                    harness: Callable[..., Harness]) -> None:
    """§5.7: `id` and `version` are what the node uses, so they stay required."""
    h = harness(devloop.url)
    add_fault(devloop, 'GET', f'{PROJECT}/models', status=200, body={'models': [{'version': '1.0'}]})
    with pytest.raises(VersionRequestError) as error:
        h.manager.set_version_control('1.0')
    assert str(error.value) == ('Failed to load models from learning loop: invalid answer: '
                                'models[0].id: missing required field')


def test_model_folder_naming_another_version_is_an_artifact_failure(devloop: DevLoop,
                                                                   harness: Callable[..., Harness],
                                                                   tmp_path: Path) -> None:
    """§7.6: `models/1.1/model.json` saying version 1.0 is a bad model: an artifact failure (error shown,
    folder deleted, nothing built) instead of a build of 1.0 every cycle; the retry downloads a good 1.1."""
    folder = tmp_path / 'data' / 'models' / '1.1'
    folder.mkdir(parents=True)
    (folder / 'model.json').write_text(json.dumps({'id': 'local-1.0', 'organization': DEMO_ORG,
                                                   'project': DEMO_PROJECT, 'version': '1.0'}))
    clock = FakeClock()
    h = harness(devloop.url, clock=clock)
    h.run_until(lambda: h.manager.status_error() and not h.manager.busy, message='update_model error')
    assert h.manager.status_error() == 'Could not update model: model.json in models/1.1 names version 1.0'
    assert h.factory.builds == [] and h.active() is None and not folder.exists()
    clock.now += 10  # past the first backoff (5 s)
    h.run_until(lambda: h.active() == '1.1', message='1.1 downloaded and active')
    assert h.factory.builds == ['1.1'] and h.manager.status_error() is None and downloads(devloop) == 1


def test_a_cached_folder_of_another_format_is_downloaded_again(devloop: DevLoop, harness: Callable[..., Harness],
                                                              tmp_path: Path) -> None:
    """§7.3 fetch: `models/1.1` left by a logic of another format is neither built at start nor reused for the
    target: the target's version is downloaded in our format and replaces it."""
    data = tmp_path / 'data'
    write_local_model(data, '1.1')
    model_json = data / 'models' / '1.1' / 'model.json'
    model_json.write_text(json.dumps({**json.loads(model_json.read_text()), 'format': 'yolov5_wts'}))
    h = harness(devloop.url)
    h.run_until(lambda: h.active() == '1.1' and not h.manager.busy, message='1.1 active and committed')
    assert h.factory.builds == ['1.1'] and downloads(devloop) == 1
    assert json.loads(model_json.read_text())['format'] == 'mocked'
    assert (data / 'models' / '1.1' / 'file_1.txt').is_file()
