"""devloop REST API (loop-protocol.md §5, §11.2) driven with plain `requests` against a real server."""
from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

import requests
from PIL import Image

from loopnode.devloop import DEMO_MODELS, DevLoop
from tests.devloop.conftest import DEMO

MODEL_11 = DEMO_MODELS['1.1']


def jpeg_bytes(color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    out = io.BytesIO()
    Image.new('RGB', (64, 48), color).save(out, format='JPEG')
    return out.getvalue()


def image_parts(count: int, **metadata: Any) -> list[tuple[str, tuple[str, bytes, str]]]:
    parts = []
    for i in range(count):
        stem = f'image_2024-01-01_12:00:0{i}.000000'
        meta = {'box_detections': [], 'tags': ['t1'], 'created': '2024-01-01T12:00:00', 'source': 'robot'} | metadata
        parts.append(('files', (f'{stem}.json', json.dumps(meta).encode(), 'application/json')))
        parts.append(('files', (f'{stem}.jpg', jpeg_bytes(), 'image/jpeg')))
    return parts


def zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w') as z:
        for name, content in files.items():
            z.writestr(name, content)
    return out.getvalue()


def test_status_projects_and_details(loop: DevLoop) -> None:
    """§11.2 1, 15, 16: status probe, projects list, project details with categories."""
    assert requests.get(loop.url + '/api/status', timeout=5).status_code == 200
    projects = requests.get(loop.url + '/api/projects', timeout=5).json()['projects']
    assert {'organization_id': 'zauberzeug', 'project_id': 'demo', 'name': 'demo',
            'resource': '/zauberzeug/projects/demo'} in projects
    details = requests.get(loop.url + '/api/zauberzeug/projects/demo', timeout=5).json()
    names = [c['name'] for c in details['categories']]
    assert names == ['some box', 'purple point', 'some segmentation', 'some class']
    point = details['categories'][1]
    assert point['type'] == 'point' and point['point_size'] == 20
    assert requests.get(loop.url + '/api' + projects[0]['resource'] + '/models', timeout=5).status_code == 200


def test_data_images_and_files(loop: DevLoop) -> None:
    """§11.2 4–6 and §11.4: ids per state, ImageData records, real JPEGs, unknown ids left out, >100 ids → 400."""
    data = requests.get(loop.url + DEMO + '/data', timeout=5).json()
    assert len(data['image_ids']) == 10 and len(data['categories']) == 4
    counts = {s: len(requests.get(loop.url + DEMO + '/data', params={'state': s}, timeout=5).json()['image_ids'])
              for s in ('inbox', 'annotate', 'review', 'complete')}
    assert counts == {'inbox': 1, 'annotate': 2, 'review': 3, 'complete': 4}
    complete = requests.get(loop.url + DEMO + '/data?state=complete', timeout=5).json()['image_ids']
    ids = ','.join(complete + ['unknown-id'])
    images = requests.get(loop.url + DEMO + '/images', params={'ids': ids}, timeout=5).json()['images']
    assert [i['id'] for i in images] == complete
    assert {i['set'] for i in images} == {'train', 'test'}
    for record in images:
        assert record['width'] == 640 and record['height'] == 480 and record['box_annotations']
        response = requests.get(loop.url + '/api' + record['resource'], timeout=5)
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).size == (640, 480)
        thumb = requests.get(loop.url + '/api' + record['thumbnail'], timeout=5)
        assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).format == 'JPEG'
    too_many = ','.join(f'id{i}' for i in range(101))
    assert requests.get(loop.url + DEMO + '/images', params={'ids': too_many}, timeout=5).status_code == 400
    assert requests.get(loop.url + DEMO + '/images/nope/main', timeout=5).status_code == 404
    assert requests.get(loop.url + DEMO + '/data?state=bogus', timeout=5).status_code == 422


def test_unknown_project_is_404(loop: DevLoop) -> None:
    """§11.2: unknown org/project → 404 with a JSON detail."""
    for path in ('/api/zauberzeug/projects/nope/data', '/api/nobody/projects/demo/models',
                 '/api/zauberzeug/projects/nope/deployment/target'):
        response = requests.get(loop.url + path, timeout=5)
        assert response.status_code == 404 and 'detail' in response.json()


def test_upload_images_stores_pairs_with_state_and_metadata(loop: DevLoop) -> None:
    """§11.2 7: pairs by stem, state honoured (default inbox), metadata kept as sent, visible in admin."""
    response = requests.post(loop.url + DEMO + '/images', files=image_parts(2), timeout=10)
    assert response.status_code == 200, response.text
    ids = response.json()['ids']
    assert len(ids) == 2
    inbox = requests.get(loop.url + DEMO + '/data?state=inbox', timeout=5).json()['image_ids']
    assert set(ids) <= set(inbox)
    trash = requests.post(loop.url + DEMO + '/images', files=image_parts(1, state='trash'), timeout=10).json()['ids']
    received = requests.get(loop.url + '/admin/received/images?org=zauberzeug&project=demo', timeout=5).json()
    by_id = {i['id']: i for i in received['images']}
    assert by_id[trash[0]]['state'] == 'trash'
    metadata = by_id[ids[0]]['metadata']  # the object as sent, not JSON text
    assert isinstance(metadata, dict) and metadata['source'] == 'robot' and metadata['tags'] == ['t1']
    assert by_id[ids[0]]['name'].startswith('image_2024-01-01_12:00:0')
    assert requests.get(by_id[ids[0]]['file_url'], timeout=5).status_code == 200


def test_upload_images_rejects_broken_batches_whole(loop: DevLoop) -> None:
    """§11.2 7: unpaired part, broken JSON, wrong types, broken JPEG, no multipart → 422, nothing stored."""
    before = requests.get(loop.url + DEMO + '/data', timeout=5).json()['image_ids']
    good = image_parts(2)
    broken_jpeg = good[:3] + [('files', (good[3][1][0], b'\xff\xd8 not a jpeg', 'image/jpeg'))]
    wrong_type = image_parts(1, tags='not a list') + good
    bad_json = [('files', ('image_x.json', b'{nope', 'application/json')), ('files', ('image_x.jpg', jpeg_bytes(),
                                                                                     'image/jpeg'))] + good
    cases = {'unpaired': good[:3], 'broken jpeg': broken_jpeg, 'wrong type': wrong_type, 'bad json': bad_json,
             'bad state': image_parts(1, state='nowhere'), 'stray part': good + [('files', ('x.txt', b'x', 'text/plain'))]}
    for name, parts in cases.items():
        response = requests.post(loop.url + DEMO + '/images', files=parts, timeout=10)
        assert response.status_code == 422, name
        assert response.json()['detail'], name
    response = requests.post(loop.url + DEMO + '/images', data=b'garbage', timeout=10,
                             headers={'Content-Type': 'multipart/form-data; boundary=xyz'})
    assert response.status_code in (400, 422)
    assert requests.post(loop.url + DEMO + '/images', json={'a': 1}, timeout=10).status_code == 422
    assert requests.get(loop.url + DEMO + '/data', timeout=5).json()['image_ids'] == before


def test_oversized_upload_is_413(tmp_path: Any) -> None:
    """Bad input: a body over the upload limit → 413 with a JSON detail; nothing stored."""
    small = DevLoop(tmp_path / 'small', max_upload_bytes=20_000, seed='demo')
    small.start()
    try:
        parts = [('files', ('image_a.json', b'{}', 'application/json')),
                 ('files', ('image_a.jpg', b'\xff' * 50_000, 'image/jpeg'))]
        response = requests.post(small.url + DEMO + '/images', files=parts, timeout=10)
        assert response.status_code == 413 and 'detail' in response.json()
        assert requests.get(small.url + DEMO + '/data?state=inbox', timeout=5).json()['image_ids'].__len__() == 1
    finally:
        small.stop()


def test_models_list_and_download(loop: DevLoop) -> None:
    """§11.2 8–9, §11.4: three mocked models; flat zip, Content-Disposition, completed model.json."""
    models = requests.get(loop.url + DEMO + '/models', timeout=5).json()['models']
    assert [(m['version'], m['id']) for m in models] == list(DEMO_MODELS.items())
    assert set(models[0]) == {'id', 'version', 'formats', 'created', 'comment', 'host'}
    assert requests.get(loop.url + DEMO + '/models?format=nope', timeout=5).json() == {'models': []}
    response = requests.get(loop.url + DEMO + f'/models/{MODEL_11}/mocked/file', timeout=5)
    assert response.status_code == 200
    assert response.headers['Content-Disposition'] == 'attachment; filename="model_1.1_mocked.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ['file_1.txt', 'file_2.txt', 'model.json']
    assert archive.read('file_1.txt') == b'content of file one'
    assert archive.read('file_2.txt') == b'content of file two'
    info = json.loads(archive.read('model.json'))
    assert info['format'] == 'mocked' and info['resolution'] == 320 and info['version'] == '1.1'
    assert info['id'] == MODEL_11 and info['organization'] == 'zauberzeug' and info['project'] == 'demo'
    assert info['host'] == loop.url.split('://')[1] and len(info['categories']) == 4
    unknown = '00000000-0000-0000-0000-000000000000'
    assert requests.get(loop.url + DEMO + f'/models/{unknown}/mocked/file', timeout=5).status_code == 404
    assert requests.get(loop.url + DEMO + f'/models/{MODEL_11}/other/file', timeout=5).status_code == 404


def test_deployment_target_set_and_cleared(loop: DevLoop) -> None:
    """§11.2 14, §11.5: target 1.1; admin sets by version or uuid; {} clears → 404."""
    target = loop.url + DEMO + '/deployment/target'
    admin = loop.url + '/admin/zauberzeug/projects/demo/deployment/target'
    assert requests.get(target, timeout=5).json() == {'model_uuid': MODEL_11, 'version': '1.1'}
    assert requests.put(admin, json={'version': '1.2'}, timeout=5).status_code == 200
    assert requests.get(target, timeout=5).json()['version'] == '1.2'
    assert requests.put(admin, json={'model_uuid': DEMO_MODELS['1.0']}, timeout=5).status_code == 200
    assert requests.get(target, timeout=5).json()['version'] == '1.0'
    assert requests.put(admin, json={'version': '9.9'}, timeout=5).status_code == 404
    assert requests.put(admin, json={'version': 12}, timeout=5).status_code == 422
    assert requests.put(admin, json={}, timeout=5).status_code == 200
    response = requests.get(target, timeout=5)
    assert response.status_code == 404 and response.json() == {'detail': 'no deployment target'}


def test_trainer_upload_one_uuid_for_all_formats(loop: DevLoop) -> None:
    """§11.2 10: first format makes the next version, the second attaches to the same uuid, repeat → 409."""
    url = loop.url + DEMO + '/trainings/2/models/latest/{}/file'
    model_json = json.dumps({'categories': [], 'conf_threshold': 0.4}).encode()
    files = [('files', ('weights.bin', b'\x00\x01', 'application/octet-stream')),
             ('files', ('model.json', model_json, 'application/json'))]
    first = requests.put(url.format('mocked'), files=files, timeout=10)
    assert first.status_code == 200, first.text
    model_id = first.json()['id']
    assert first.json()['version'] == '1.3'
    second = requests.put(url.format('other_format'), files=files[:1], timeout=10)
    assert second.json()['id'] == model_id
    again = requests.put(url.format('mocked'), files=files, timeout=10)
    assert again.status_code == 409
    assert again.json() == {'detail': {'id': model_id, 'message': 'format already exists'}}
    two_jsons = requests.put(url.format('third'), files=files + files[1:], timeout=10)
    assert two_jsons.status_code == 422
    models = requests.get(loop.url + DEMO + '/models?format=other_format', timeout=5).json()['models']
    assert [m['id'] for m in models] == [model_id] and set(models[0]['formats']) == {'mocked', 'other_format'}
    archive = zipfile.ZipFile(io.BytesIO(requests.get(
        loop.url + DEMO + f'/models/{model_id}/other_format/file', timeout=5).content))
    info = json.loads(archive.read('model.json'))  # none was uploaded: devloop made one
    assert info['id'] == model_id and info['format'] == 'other_format' and info['version'] == '1.3'
    kept = json.loads(zipfile.ZipFile(io.BytesIO(requests.get(
        loop.url + DEMO + f'/models/{model_id}/mocked/file', timeout=5).content)).read('model.json'))
    assert kept['conf_threshold'] == 0.4
    trainings = requests.get(loop.url + '/admin/trainings', timeout=5).json()
    assert [u['payload']['format'] for u in trainings['model_uploads']] == ['mocked', 'other_format']
    chart = requests.get(loop.url + DEMO + '/trainings', timeout=5).json()
    assert chart['charts'][0]['data'][0]['model_id'] == model_id  # T3


def test_resolution_filled_from_training_hyperparameters(loop: DevLoop) -> None:
    """§11.2 10: `resolution` comes from the training's hyperparameters when model.json lacks it."""
    response = requests.put(loop.url + DEMO + '/trainings/1/models/latest/fmt2/file',
                            files=[('files', ('a.txt', b'a', 'text/plain'))], timeout=10)
    assert response.json()['id'] == DEMO_MODELS['1.2']  # training 1's model is 1.2
    content = requests.get(loop.url + DEMO + f'/models/{DEMO_MODELS["1.2"]}/fmt2/file', timeout=5).content
    assert json.loads(zipfile.ZipFile(io.BytesIO(content)).read('model.json'))['resolution'] == 320


def test_converter_upload(loop: DevLoop) -> None:
    """§11.2 11: add a format to a model; unknown model → 404; existing format → 409."""
    url = loop.url + DEMO + '/models/{}/{}/file'
    files = [('files', ('engine.trt', b'trt', 'application/octet-stream'))]
    ok = requests.put(url.format(MODEL_11, 'tensorrt'), files=files, timeout=10)
    assert ok.status_code == 200 and ok.json()['id'] == MODEL_11
    assert requests.put(url.format(MODEL_11, 'tensorrt'), files=files, timeout=10).status_code == 409
    assert requests.put(url.format('00000000-0000-0000-0000-000000000099', 'x'), files=files,
                        timeout=10).status_code == 404
    assert requests.put(url.format(MODEL_11, 'nofiles'), data=b'', timeout=10).status_code == 422


def test_r1_zip_upload_creates_version_or_attaches(loop: DevLoop) -> None:
    """§11.2 R1 and §11.5: POST P/{format} with one zip → new version; ?version= attaches; bad zip → 422."""
    zipped = zip_of({'sub/weights.bin': b'w', 'model.json': b'{"resolution": 416}'})
    response = requests.post(loop.url + DEMO + '/yolo', files={'files': ('model.zip', zipped)}, timeout=10)
    assert response.status_code == 200 and response.json()['version'] == '1.3'
    listed = requests.get(loop.url + DEMO + '/models?format=yolo', timeout=5).json()['models']
    assert [m['version'] for m in listed] == ['1.3']
    archive = zipfile.ZipFile(io.BytesIO(requests.get(
        loop.url + DEMO + f'/models/{response.json()["id"]}/yolo/file', timeout=5).content))
    assert sorted(archive.namelist()) == ['model.json', 'weights.bin']  # flat
    assert json.loads(archive.read('model.json'))['resolution'] == 416
    attach = requests.post(loop.url + '/admin/zauberzeug/projects/demo/yolo?version=1.1',
                           files={'files': ('model.zip', zipped)}, timeout=10)
    assert attach.json() == {'id': MODEL_11, 'version': '1.1'}
    assert requests.post(loop.url + DEMO + '/yolo?version=7.7', files={'files': ('m.zip', zipped)},
                         timeout=10).status_code == 404
    assert requests.post(loop.url + DEMO + '/yolo', files={'files': ('m.zip', b'not a zip')},
                         timeout=10).status_code == 422


def test_detections_upload(loop: DevLoop) -> None:
    """§11.2 12: ≤ 100 Detections with known image ids, stored per image; else 422 and nothing stored."""
    image_id = requests.get(loop.url + DEMO + '/data', timeout=5).json()['image_ids'][0]
    box = {'category_name': 'some box', 'x': 1, 'y': 2, 'width': 3, 'height': 4, 'model_name': '1.2',
           'confidence': 0.9, 'category_id': None}
    ok = requests.post(loop.url + DEMO + '/detections', json=[{'image_id': image_id, 'box_detections': [box]}],
                       timeout=10)
    assert ok.status_code == 200, ok.text
    for bad in ([{'image_id': 'unknown'}], [{'image_id': image_id, 'box_detections': [box | {'x': 'one'}]}],
                {'image_id': image_id}, [{'image_id': image_id}] * 101):
        assert requests.post(loop.url + DEMO + '/detections', json=bad, timeout=10).status_code == 422
    assert requests.post(loop.url + DEMO + '/detections', data=b'[{', timeout=10).status_code == 422
    received = requests.get(loop.url + '/admin/received/detections', timeout=5).json()['detections']
    assert len(received) == 1 and received[0]['key'] == image_id
    assert received[0]['payload']['box_detections'][0]['model_name'] == '1.2'


def test_detector_status(loop: DevLoop) -> None:
    """§11.2 13: status stored per uuid with history; malformed → 422."""
    status = {'uuid': 'd-1', 'name': 'det', 'state': 'online', 'uptime': 3, 'model_format': 'mocked',
              'current_model': '1.1', 'target_model': '1.1', 'errors': {}, 'operation_mode': 'idle',
              'node_version': None}
    for uptime in (3, 4):
        assert requests.post(loop.url + DEMO + '/detectors', json=status | {'uptime': uptime},
                             timeout=5).status_code == 200
    assert requests.post(loop.url + DEMO + '/detectors', json=status | {'uptime': 'x'}, timeout=5).status_code == 422
    assert requests.post(loop.url + DEMO + '/detectors', json=[status], timeout=5).status_code == 422
    detectors = requests.get(loop.url + '/admin/statuses', timeout=5).json()['detectors']
    assert detectors[0]['uuid'] == 'd-1' and detectors[0]['latest']['uptime'] == 4
    assert len(detectors[0]['history']) == 2


def test_generator_delete_and_trainings(loop: DevLoop) -> None:
    """§5.15 T1–T3: generator project with images per state and a mocked training; delete it again."""
    body = {'project_name': 'pytest_x', 'inbox': 1, 'annotate': 0, 'review': 0, 'complete': 3,
            'image_style': 'plain', 'box_categories': 2, 'point_categories': 2, 'segmentation_categories': 1,
            'thumbs': False, 'tags': 0, 'trainings': 1, 'box_detections': 3, 'box_annotations': 0}
    assert requests.post(loop.url + '/api/zauberzeug/projects/generator', json=body, timeout=30).status_code == 200
    p = loop.url + '/api/zauberzeug/projects/pytest_x'
    assert len(requests.get(p + '/data?state=complete', timeout=5).json()['image_ids']) == 3
    categories = requests.get(p, timeout=5).json()['categories']
    assert sorted(c['type'] for c in categories) == ['box', 'box', 'point', 'point', 'segmentation']
    models = requests.get(p + '/models?format=mocked', timeout=5).json()['models']
    assert len(models) == 1
    assert requests.get(p + '/trainings', timeout=5).json()['charts'][0]['data'][0]['model_id'] == models[0]['id']
    assert requests.post(loop.url + '/api/zauberzeug/projects/generator', json={'project_name': 3},
                         timeout=5).status_code == 422
    assert requests.delete(p + '?keep_images=true', timeout=5).status_code == 200
    assert requests.get(p + '/data', timeout=5).status_code == 404


def test_restart_keeps_everything(tmp_path: Any) -> None:
    """Issue 3: restarting devloop on the same data dir keeps images, models, target, statuses and sessions."""
    first = DevLoop(tmp_path / 'state', auth='login')
    first.start()
    session = requests.Session()
    try:
        assert session.post(first.url + '/api/login', data={'username': 'u', 'password': 'p'}, timeout=5).ok
        ids = session.post(first.url + DEMO + '/images', files=image_parts(1), timeout=10).json()['ids']
        session.put(first.url + DEMO + '/trainings/5/models/latest/fmt/file',
                    files=[('files', ('a.bin', b'a', 'application/octet-stream'))], timeout=10).raise_for_status()
        requests.put(first.url + '/admin/zauberzeug/projects/demo/deployment/target', json={'version': '1.3'},
                     timeout=5).raise_for_status()
    finally:
        first.stop()
    second = DevLoop(tmp_path / 'state', auth='login')
    second.start()
    try:
        assert session.get(second.url + DEMO + '/deployment/target', timeout=5).json()['version'] == '1.3'
        assert set(ids) <= set(session.get(second.url + DEMO + '/data', timeout=5).json()['image_ids'])
        assert len(session.get(second.url + DEMO + '/models', timeout=5).json()['models']) == 4
        assert session.get(second.url + DEMO + f'/images/{ids[0]}/main', timeout=5).status_code == 200
    finally:
        second.stop()


def test_relative_data_folder_serves_image_files(tmp_path: Any) -> None:
    """A relative data folder (devloop's default `devloop-data`, the demo's `demo-data`) still serves image files.

    Flask's `send_file` resolves a relative path against the package folder, not the working directory.
    """
    relative = os.path.relpath(tmp_path / 'relative')
    assert not os.path.isabs(relative)
    loop = DevLoop(relative, seed='demo')
    loop.start()
    try:
        image_id = requests.get(loop.url + DEMO + '/data', timeout=5).json()['image_ids'][0]
        response = requests.get(loop.url + DEMO + f'/images/{image_id}/main', timeout=5)
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).size == (640, 480)
    finally:
        loop.stop()
