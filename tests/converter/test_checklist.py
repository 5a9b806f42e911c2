"""Checklist C1–C8 of annotator-converter.md §B9 against devloop over loopback (C9 and the subprocess form of
C1 are in test_process.py). Passes after the first are driven with `POST /step`; the retry clock is fake."""
from __future__ import annotations

import json
import time

import requests

from loopnode.converter import MockConverterLogic
from loopnode.devloop import DEMO_MODELS, DEMO_ORG, DEMO_PROJECT, DevLoop
from tests.converter.conftest import (DEMO, FakeClock, StartConverter, add_fault, conversions, models,
                                      requests_log, step, zip_names, zip_of)
from tests.converter.logics import FlakyLogic, GateLogic, RecordingLogic
from tests.helpers import until

MODEL_10, MODEL_11, MODEL_12 = DEMO_MODELS['1.0'], DEMO_MODELS['1.1'], DEMO_MODELS['1.2']
SCOPE = {'LOOP_ORGANIZATION': DEMO_ORG, 'LOOP_PROJECT': DEMO_PROJECT}


def upload_format_a(loop: DevLoop, files: dict[str, bytes]) -> str:
    response = requests.post(loop.url + DEMO + '/format_a', files={'files': ('my_model.zip', zip_of(files))},
                             timeout=10)
    assert response.status_code == 200, response.text
    return response.json()['id']


def test_c1_test_operability_flow(devloop: DevLoop, start_converter: StartConverter) -> None:
    """C1: a format_a zip uploaded with POST P/format_a; format_b lists nothing; after one pass of a
    format_a → format_b converter the model lists both formats and devloop holds the converted files."""
    model_id = upload_format_a(devloop, {'weights.bin': b'w' * 100, 'model.json': b'{"resolution": 416}'})
    assert [m['id'] for m in models(devloop, 'format_a')] == [model_id]
    assert models(devloop, 'format_b') == []
    node = start_converter(MockConverterLogic('format_a', 'format_b', duration=0))
    [converted] = models(devloop, 'format_b')
    assert converted['id'] == model_id and converted['formats'] == ['format_a', 'format_b']
    served = requests.get(loop_file(devloop, model_id, 'format_b'), timeout=10)
    assert served.status_code == 200
    assert zip_names(served.content) == ['converted_weightfile.converted', 'model.json']
    [record] = conversions(devloop, format='format_b')
    assert record['model_id'] == model_id and record['files'] == ['converted_weightfile.converted', 'model.json']
    status = requests.get(node.url + '/status', timeout=5).json()['converter']
    assert status['converted'] == 1 and status['failed'] == 0 and status['last_pass']['converted'] == 1


def loop_file(loop: DevLoop, model_id: str, fmt: str) -> str:
    return f'{loop.url}{DEMO}/models/{model_id}/{fmt}/file'


def test_c2_model_information_has_categories_and_resolution(devloop: DevLoop,
                                                            start_converter: StartConverter) -> None:
    """C2: a generated project with one box and one point category: the logic gets 2 categories (box, point)
    and the resolution of the downloaded model.json (upstream test_meta_information)."""
    response = requests.post(f'{devloop.url}/api/{DEMO_ORG}/projects/generator', json={
        'project_name': 'pytest_c2', 'box_categories': 1, 'point_categories': 1, 'trainings': 1}, timeout=10)
    assert response.status_code == 200
    logic = RecordingLogic()
    start_converter(logic, LOOP_ORGANIZATION=DEMO_ORG, LOOP_PROJECT='pytest_c2')
    [info] = logic.seen
    assert [c.type for c in info.categories] == ['box', 'point']
    assert info.resolution == 320
    assert (info.organization, info.project, info.version) == (DEMO_ORG, 'pytest_c2', '1.0')
    assert info.host == devloop.url


def test_c2_model_size_and_conf_threshold_are_copied_too(devloop: DevLoop, start_converter: StartConverter) -> None:
    """C2 (differs from upstream): model_size and conf_threshold of the downloaded model.json are copied as well;
    the source files are unzipped into {DATA}/{org}/{project}/{model_id}/ with sub-folders kept."""
    model_id = upload_format_a(devloop, {'model.json': json.dumps({'resolution': 640, 'model_size': 's6',
                                                                   'conf_threshold': 0.4}).encode(),
                                         'weights/best.bin': b'b'})
    logic = RecordingLogic('format_a', 'format_b')
    node = start_converter(logic, **SCOPE)
    [info] = logic.seen
    assert (info.resolution, info.model_size, info.conf_threshold) == (640, 's6', 0.4)
    assert logic.folder_files[model_id] == ['best.bin', 'model.json']  # devloop's zips are flat
    assert logic.model_folder == str(node.settings.data_folder / DEMO_ORG / DEMO_PROJECT / model_id)


def test_c3_only_candidates_are_downloaded(devloop: DevLoop, start_converter: StartConverter) -> None:
    """C3: models without a version, without the source format, or already having the target format are not
    downloaded; the one candidate is."""
    listing = {'models': [
        {'id': 'no-version', 'version': None, 'formats': ['mocked'], 'created': 'x'},
        {'id': 'empty-version', 'version': '', 'formats': ['mocked'], 'created': 'x'},
        {'id': 'other-format', 'version': '3.0', 'formats': ['yolo'], 'created': 'x'},
        {'id': 'has-target', 'version': '3.1', 'formats': ['mocked', 'mocked_converted'], 'created': 'x'},
        {'id': MODEL_10, 'version': '1.0', 'formats': ['mocked'], 'created': 'x'}]}
    add_fault(devloop, match={'method': 'GET', 'path': DEMO + '/models'}, status=200, body=listing)
    logic = RecordingLogic()
    start_converter(logic, **SCOPE)
    downloads = [r['path'] for r in requests_log(devloop) if r['method'] == 'GET' and r['path'].endswith('/file')]
    assert downloads == [f'{DEMO}/models/{MODEL_10}/mocked/file']
    assert [info.id for info in logic.seen] == [MODEL_10]


def test_c4_failed_model_is_retried_after_5_minutes(devloop: DevLoop, start_converter: StartConverter,
                                                   clock: FakeClock) -> None:
    """C4: a logic failing once for a model: the model waits 5 min (fake clock), then succeeds; the other
    models are converted in the same first pass."""
    logic = FlakyLogic({MODEL_11: 1})
    node = start_converter(logic, **SCOPE)
    assert logic.attempts == {MODEL_10: 1, MODEL_11: 1, MODEL_12: 1}
    status = requests.get(node.url + '/status', timeout=5).json()['converter']
    assert status['failed'] == 1 and status['converted'] == 2
    failing = status['failing'][MODEL_11]
    assert failing['failures'] == 1 and failing['last_error'] == 'RuntimeError: flaky 1' and failing['next_retry']
    clock.advance(299)
    step(node)
    assert logic.attempts[MODEL_11] == 1, 'retried before 5 minutes'
    clock.advance(1)
    report = step(node)
    assert logic.attempts[MODEL_11] == 2 and report['converted'] == 1
    assert [m['id'] for m in models(devloop, 'mocked_converted')] == [MODEL_10, MODEL_11, MODEL_12]
    assert requests.get(node.url + '/status', timeout=5).json()['converter']['failing'] == {}


def test_c4_two_failures_wait_5_then_10_minutes_and_are_never_blacklisted(devloop: DevLoop,
                                                                         start_converter: StartConverter,
                                                                         clock: FakeClock) -> None:
    """C4: failing twice waits 5 then 10 min; the model is still tried afterwards and succeeds."""
    logic = FlakyLogic({MODEL_11: 2})
    node = start_converter(logic, **SCOPE)
    clock.advance(300)
    step(node)
    assert logic.attempts[MODEL_11] == 2
    failing = requests.get(node.url + '/status', timeout=5).json()['converter']['failing'][MODEL_11]
    assert failing['failures'] == 2 and failing['last_error'] == 'RuntimeError: flaky 2'
    clock.advance(599)
    step(node)
    assert logic.attempts[MODEL_11] == 2, 'retried before 10 minutes'
    clock.advance(1)
    step(node)
    assert logic.attempts[MODEL_11] == 3
    assert MODEL_11 in [m['id'] for m in models(devloop, 'mocked_converted')]


def test_c5_409_counts_as_done(devloop: DevLoop, start_converter: StartConverter, clock: FakeClock) -> None:
    """C5: a 409 on upload counts as done: no further download or upload for that model, even though the
    listing still lacks the format and hours pass."""
    upload = f'{DEMO}/models/{MODEL_10}/mocked_converted/file'
    add_fault(devloop, match={'method': 'PUT', 'path': upload}, status=409,
              body={'detail': {'id': MODEL_10, 'message': 'format already exists'}})
    logic = RecordingLogic()
    node = start_converter(logic, **SCOPE)
    assert MODEL_10 not in [m['id'] for m in models(devloop, 'mocked_converted')]
    clock.advance(7 * 3600)
    step(node)
    step(node)
    assert logic.calls(MODEL_10) == 1
    assert [r['path'] for r in requests_log(devloop) if r['method'] == 'PUT'].count(upload) == 1
    status = requests.get(node.url + '/status', timeout=5).json()['converter']
    assert status['converted'] == 3 and status['failing'] == {}


def test_c6_scoped_to_one_project(devloop: DevLoop, start_converter: StartConverter) -> None:
    """C6: with LOOP_ORGANIZATION and LOOP_PROJECT set, devloop sees no GET /api/projects and no request for
    other projects."""
    for org in (DEMO_ORG, 'acme'):
        assert requests.post(f'{devloop.url}/api/{org}/projects/generator', json={
            'project_name': 'other', 'trainings': 1}, timeout=10).status_code == 200
    already = len(requests_log(devloop))
    node = start_converter(RecordingLogic(), **SCOPE)
    step(node)
    paths = [r['path'] for r in requests_log(devloop)[already:] if r['path'].startswith('/api/')]
    assert paths and '/api/projects' not in paths
    assert all(p.startswith(DEMO) or p == '/api/status' for p in paths), sorted(set(paths))  # status: §B3
    assert len(models(devloop, 'mocked_converted')) == 3
    assert models(devloop, 'mocked_converted', project='other') == []


def test_c6_organization_only_and_unscoped(devloop: DevLoop, start_converter: StartConverter) -> None:
    """C6 (scope rules of §B2 step 1): only the organization set → its projects from GET /api/projects, no
    request for another organization; neither set → every listed project."""
    assert requests.post(f'{devloop.url}/api/acme/projects/generator', json={
        'project_name': 'robots', 'trainings': 1}, timeout=10).status_code == 200
    already = len(requests_log(devloop))
    start_converter(RecordingLogic(), LOOP_ORGANIZATION=DEMO_ORG)
    paths = [r['path'] for r in requests_log(devloop)[already:]]
    assert '/api/projects' in paths and not any(p.startswith('/api/acme/') for p in paths)
    assert len(models(devloop, 'mocked_converted')) == 3
    logic = RecordingLogic()
    start_converter(logic)
    assert {(i.organization, i.project) for i in logic.seen} == {('acme', 'robots')}


def test_c7_step_during_a_pass_and_check_state(devloop: DevLoop, start_converter: StartConverter) -> None:
    """C7: POST /step during a pass → 409; PUT /check_state off stops automatic passes (409 while a pass runs
    past 2.5 s); on resumes them."""
    logic = GateLogic()
    node = start_converter(logic, wait_first_pass=False, CONVERTER_POLL_INTERVAL='0.1', **SCOPE)
    assert logic.entered.wait(20)
    busy = requests.post(node.url + '/step', timeout=10)
    assert busy.status_code == 409 and busy.json()['error'] == 'converter is already running'
    refused = requests.put(node.url + '/check_state', data='off', timeout=10)
    assert refused.status_code == 409
    assert refused.json()['error'] == 'Could not skip auto checking. State is still not idle'
    logic.gate.set()
    until(lambda: not node.passes.running, timeout=20, message='pass ended')
    assert requests.put(node.url + '/check_state', data='off', timeout=10).json() == 'off'
    status = requests.get(node.url + '/status', timeout=5).json()['converter']
    assert status['automatic'] is False and status['next_pass'] is None
    before, steps, started = node.passes.passes_done, 0, time.monotonic()
    while time.monotonic() - started < 1.0:  # 10 poll intervals: only the requested passes run
        step(node)
        steps += 1
    assert node.passes.passes_done == before + steps
    assert requests.put(node.url + '/check_state', data='on', timeout=10).json() == 'on'
    resumed = node.passes.passes_done
    until(lambda: node.passes.passes_done >= resumed + 2, timeout=20, message='automatic passes again')
    assert requests.put(node.url + '/check_state', data='maybe', timeout=10).status_code == 400


def test_c8_generated_model_json(devloop: DevLoop, start_converter: StartConverter) -> None:
    """C8: a logic listing no model.json → the upload carries a generated one with "format": "<target>",
    the ModelInformation of the model and no model_root_path."""
    start_converter(RecordingLogic(), **SCOPE)
    record = next(r for r in conversions(devloop) if r['model_id'] == MODEL_11)
    generated = record['model_json']
    assert generated['format'] == 'mocked_converted' and 'model_root_path' not in generated
    assert (generated['id'], generated['version'], generated['resolution']) == (MODEL_11, '1.1', 320)
    assert [c['name'] for c in generated['categories']] == ['some box', 'purple point', 'some segmentation',
                                                           'some class']
    served = requests.get(loop_file(devloop, MODEL_11, 'mocked_converted'), timeout=10)
    assert zip_names(served.content) == ['converted_weightfile.converted', 'model.json']
