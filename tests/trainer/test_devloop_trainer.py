"""devloop's trainer side (loop-protocol.md §11.2 row 10, §11.5): uploads per format, 409, files, detections."""
from __future__ import annotations

import json

import requests

from loopnode.devloop import DevLoop

DEMO = '/api/zauberzeug/projects/demo'


def put_format(loop: DevLoop, number: int, fmt: str, files: dict[str, bytes]) -> requests.Response:
    parts = [('files', (name, content)) for name, content in files.items()]
    return requests.put(f'{loop.url}{DEMO}/trainings/{number}/models/latest/{fmt}/file', files=parts, timeout=10)


def test_formats_of_one_training_share_a_model_and_a_repeat_is_409(devloop: DevLoop) -> None:
    model_json = json.dumps({'categories': [], 'conf_threshold': 0.4}).encode()
    first = put_format(devloop, 9, 'mocked', {'file_1.txt': b'one', 'model.json': model_json})
    assert first.status_code == 200
    model_id = first.json()['id']
    second = put_format(devloop, 9, 'mocked_2', {'weights.bin': b'\x00\x01', 'model.json': model_json})
    assert second.status_code == 200 and second.json()['id'] == model_id
    again = put_format(devloop, 9, 'mocked', {'file_1.txt': b'one'})
    assert again.status_code == 409 and again.json()['detail']['id'] == model_id
    two_jsons = put_format(devloop, 10, 'mocked', {'model.json': model_json, 'x/model.json': model_json})
    assert two_jsons.status_code == 422
    listing = requests.get(f'{devloop.url}/admin/models/{model_id}/mocked_2/files', timeout=5).json()
    assert [f['name'] for f in listing['files']] == ['model.json', 'weights.bin']
    content = requests.get(f'{devloop.url}/admin/models/{model_id}/mocked_2/files/weights.bin', timeout=5)
    assert content.content == b'\x00\x01'
    stored = json.loads(requests.get(f'{devloop.url}/admin/models/{model_id}/mocked/files/model.json',
                                     timeout=5).content)
    assert stored['id'] == model_id and stored['conf_threshold'] == 0.4
    assert requests.get(f'{devloop.url}/admin/models/{model_id}/nope/files', timeout=5).status_code == 404
    uploads = requests.get(f'{devloop.url}/admin/trainings', timeout=5).json()['model_uploads']
    assert [u['payload']['format'] for u in uploads] == ['mocked', 'mocked_2']
