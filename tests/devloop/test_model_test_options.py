"""R1 test options (docs/devloop.md): `?raw=true` keeps a model zip verbatim, `?allow_duplicate_version=true`."""
from __future__ import annotations

import io
import json
import zipfile

import requests

from loopnode.devloop import DEMO_MODELS, DevLoop
from tests.devloop.conftest import DEMO
from tests.model_zips import corrupt_zip, model_json, symlink_entry, zip_bytes

ADMIN_DEMO = '/admin/zauberzeug/projects/demo'


def upload(loop: DevLoop, path: str, content: bytes, query: str = '') -> requests.Response:
    return requests.post(loop.url + path + query, files={'files': ('model.zip', content)}, timeout=10)


def download(loop: DevLoop, model_id: str, fmt: str) -> requests.Response:
    return requests.get(loop.url + DEMO + f'/models/{model_id}/{fmt}/file', timeout=5)


def test_raw_upload_is_stored_and_served_verbatim(loop: DevLoop) -> None:
    """§11.2 R1 `?raw=true`: traversal, sub-folders, symlink, no model.json and a non-zip come back byte-identical."""
    bad = zip_bytes([('../evil', b'x'), ('sub/dir/weights.bin', b'w'), symlink_entry('link', '/etc/passwd'),
                     ('sub/notes.txt', b'n')])
    uploads = {'bad_zip': (DEMO, bad), 'corrupt': (ADMIN_DEMO, corrupt_zip()), 'plain': (DEMO, b'not a zip at all')}
    for fmt, (path, content) in uploads.items():
        response = upload(loop, path + '/' + fmt, content, '?raw=true')
        assert response.status_code == 200, response.text
        served = download(loop, response.json()['id'], fmt)
        assert served.status_code == 200 and served.content == content
        assert served.headers['Content-Disposition'] == \
            f'attachment; filename="model_{response.json()["version"]}_{fmt}.zip"'
        assert [m['version'] for m in requests.get(loop.url + DEMO + f'/models?format={fmt}', timeout=5)
                .json()['models']] == [response.json()['version']]
    names = zipfile.ZipFile(io.BytesIO(bad)).namelist()
    assert names == ['../evil', 'sub/dir/weights.bin', 'link', 'sub/notes.txt']


def test_raw_attach_to_version_and_default_unchanged(loop: DevLoop) -> None:
    """§11.2 R1: `?raw=true&version=1.1` attaches verbatim; the other formats and plain uploads are still completed."""
    content = zip_bytes({'model.json': model_json(resolution=1), 'a/b.txt': b'b'})
    attached = upload(loop, DEMO + '/rawfmt', content, '?raw=true&version=1.1')
    assert attached.json() == {'id': DEMO_MODELS['1.1'], 'version': '1.1'}
    assert download(loop, DEMO_MODELS['1.1'], 'rawfmt').content == content
    mocked = zipfile.ZipFile(io.BytesIO(download(loop, DEMO_MODELS['1.1'], 'mocked').content))
    assert json.loads(mocked.read('model.json'))['version'] == '1.1'
    normal = upload(loop, DEMO + '/normal', content)
    archive = zipfile.ZipFile(io.BytesIO(download(loop, normal.json()['id'], 'normal').content))
    assert sorted(archive.namelist()) == ['b.txt', 'model.json']  # flattened, model.json completed
    assert json.loads(archive.read('model.json'))['id'] == normal.json()['id']
    assert upload(loop, DEMO + '/normal', b'not a zip').status_code == 422  # without raw a bad zip is refused
    assert upload(loop, DEMO + '/rawfmt', content, '?raw=true&version=1.1').status_code == 409
    assert upload(loop, DEMO + '/x', content, '?raw=maybe').status_code == 422
    assert upload(loop, DEMO + '/x', content, '?raw=true&version=9.9').status_code == 404
    assert requests.post(loop.url + '/admin/reset', timeout=30).status_code == 200
    assert download(loop, DEMO_MODELS['1.1'], 'rawfmt').status_code == 404


def test_duplicate_version_creates_a_second_model(loop: DevLoop) -> None:
    """§11.2 R1 `?allow_duplicate_version=true`: a second model 1.1, listed twice (for 'Multiple models …')."""
    content = zip_bytes({'model.json': model_json(), 'w.bin': b'w'})
    second = upload(loop, ADMIN_DEMO + '/mocked', content, '?version=1.1&allow_duplicate_version=true')
    assert second.status_code == 200 and second.json()['version'] == '1.1'
    assert second.json()['id'] != DEMO_MODELS['1.1']
    listed = requests.get(loop.url + DEMO + '/models?format=mocked', timeout=5).json()['models']
    assert sorted(m['id'] for m in listed if m['version'] == '1.1') == sorted([DEMO_MODELS['1.1'], second.json()['id']])
    info = json.loads(zipfile.ZipFile(io.BytesIO(download(loop, second.json()['id'], 'mocked').content))
                      .read('model.json'))
    assert info['id'] == second.json()['id'] and info['version'] == '1.1'
    raw = upload(loop, DEMO + '/mocked', b'raw bytes', '?version=1.1&allow_duplicate_version=true&raw=true')
    assert raw.json()['version'] == '1.1' and download(loop, raw.json()['id'], 'mocked').content == b'raw bytes'
    assert len([m for m in requests.get(loop.url + DEMO + '/models', timeout=5).json()['models']
                if m['version'] == '1.1']) == 3
    fresh = upload(loop, DEMO + '/mocked', content, '?version=4.0&allow_duplicate_version=true')
    assert fresh.json()['version'] == '4.0'  # a version that does not exist yet is simply created
    for bad_query in ('?allow_duplicate_version=true', '?version=x&allow_duplicate_version=true',
                      '?version=1.1&allow_duplicate_version=perhaps'):
        assert upload(loop, DEMO + '/mocked', content, bad_query).status_code == 422
