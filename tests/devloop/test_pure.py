"""Unit tests of devloop's pure parts (upload pairing, model files) and the store's all-or-nothing writes."""
from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest
import requests
from PIL import Image

from loopnode.devloop import DevLoop
from loopnode.devloop.modelzip import (ModelFilesError, check_format_name, complete_model_json, files_from_zip,
                                       zip_from_files)
from loopnode.devloop.store import NewImage, Store, parse_version
from loopnode.devloop.uploads import UploadError, model_upload, pair_image_parts


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new('RGB', (8, 8)).save(out, format='JPEG')
    return out.getvalue()


def test_pairing_by_stem_keeps_metadata_text() -> None:
    text = json.dumps({'tags': ['a'], 'state': 'review', 'extra_key': 1})
    pairs = pair_image_parts([('image_1:2.json', text.encode()), ('image_b.jpg', jpeg()), ('image_1:2.jpg', jpeg()),
                              ('image_b.json', b'{}')])
    assert [p.stem for p in pairs] == ['image_1:2', 'image_b']
    assert pairs[0].metadata_text == text and (pairs[0].width, pairs[0].height) == (8, 8)
    for parts in ([], [('image_a.json', b'{}')], [('image_a.json', b'{}'), ('image_a.json', b'{}')],
                  [('image_a.json', b'{"created": 5}'), ('image_a.jpg', jpeg())],
                  [('image_a.json', b'{}'), ('image_a.jpg', b'GIF89a')],
                  [('image_a.json', b'{}'), ('image_a.jpg', jpeg()[:40])]):
        with pytest.raises(UploadError):
            pair_image_parts(parts)


def test_model_files() -> None:
    upload = model_upload([('dir/w.bin', b'w'), ('model.json', b'{"resolution": 3}')])
    assert upload.files == {'w.bin': b'w'} and upload.info == {'resolution': 3}
    for parts in ([('model.json', b'{}'), ('model.json', b'{}')], [('a', b''), ('a', b'')],
                  [('model.json', b'[1]')], [('model.json', b'{"resolution": "big"}')], []):
        with pytest.raises(UploadError):
            model_upload(parts)
    zipped = zip_from_files({'b.txt': b'b', 'model.json': b'{}'})
    assert zipfile.ZipFile(io.BytesIO(zipped)).namelist() == ['model.json', 'b.txt']
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, 'w') as z:
        z.writestr('x/a.txt', 'a')
        z.writestr('y/a.txt', 'a')
    with pytest.raises(ModelFilesError):
        files_from_zip(nested.getvalue())
    with pytest.raises(ModelFilesError):
        check_format_name('../x')
    info = complete_model_json({'version': 'old', 'resolution': None}, model_id='m', organization='o', project='p',
                               version='1.4', fmt='f', categories=[], resolution=320, host='h:1')
    assert info == {'version': '1.4', 'resolution': 320, 'categories': [], 'id': 'm', 'organization': 'o',
                    'project': 'p', 'format': 'f', 'host': 'h:1'}
    assert parse_version('2.10') == (2, 10)
    with pytest.raises(ValueError):
        parse_version('1.x')


def test_store_writes_all_images_or_none(tmp_path: Path) -> None:
    """Bad input never stores half an upload: a failing batch leaves no rows and no files."""
    store = Store(tmp_path)
    try:
        store.add_project('o', 'p', [])
        image = NewImage(id='same', jpeg=jpeg(), state='inbox', image_set='train', width=8, height=8,
                         annotations={}, created='now')
        other = NewImage(id='other', jpeg=jpeg(), state='inbox', image_set='train', width=8, height=8,
                         annotations={}, created='now')
        with pytest.raises(sqlite3.IntegrityError):
            store.add_images('o', 'p', [other, image, image])
        assert store.image_ids('o', 'p') == []
        assert list((tmp_path / 'images').iterdir()) == []
        assert store.add_images('o', 'p', [other]) == ['other']
    finally:
        store.close()


def test_shared_fixture_serves_the_demo(devloop: DevLoop) -> None:
    """The `devloop` fixture other suites use: a started devloop with the demo seed."""
    target = requests.get(devloop.url + '/api/zauberzeug/projects/demo/deployment/target', timeout=5).json()
    assert target['version'] == '1.1'
