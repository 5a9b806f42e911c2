"""Model download and safe unzip (detector.md §7.4): F16 unit tests; D18 and F15 against devloop."""
from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import pytest

from loopnode.loop.transfer import (ArtifactError, TransportError, UnsafeZipError, check_entries, extract_model,
                                    model_root_prefix, remove_leftovers)

MODEL_JSON = json.dumps({'id': 'u', 'organization': 'o', 'project': 'p', 'version': '1.1'}).encode()


def make_zip(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    """A zip with the given file entries (names taken literally) and optional symlink entries."""
    with zipfile.ZipFile(path, 'w') as archive:
        for name, content in entries.items():
            archive.writestr(zipfile.ZipInfo(name), content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def all_paths(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob('*')}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / 'data'
    (folder / 'models').mkdir(parents=True)
    (folder / 'tmp').mkdir()
    return folder


def test_sub_folders_are_kept(data: Path) -> None:
    """F16: a zip with sub-folders keeps them."""
    zip_path = make_zip(data / 'tmp' / 'm.zip', {'model.json': MODEL_JSON, 'weights/a.bin': b'A',
                                                 'weights/deep/b.bin': b'B', 'c.txt': b'C'})
    folder = extract_model(zip_path, data / 'models', '1.1')
    assert folder == data / 'models' / '1.1'
    assert (folder / 'weights' / 'deep' / 'b.bin').read_bytes() == b'B'
    assert (folder / 'weights' / 'a.bin').read_bytes() == b'A'
    assert all_paths(data / 'models') == {'1.1', '1.1/model.json', '1.1/weights', '1.1/weights/a.bin',
                                          '1.1/weights/deep', '1.1/weights/deep/b.bin', '1.1/c.txt'}


def test_single_top_folder_becomes_the_root(data: Path) -> None:
    """F16: a zip with one top folder containing model.json is accepted; that folder is the root."""
    zip_path = make_zip(data / 'tmp' / 'm.zip', {'export/': b'', 'export/model.json': MODEL_JSON,
                                                 'export/sub/w.bin': b'W'})
    folder = extract_model(zip_path, data / 'models', '2.0')
    assert all_paths(folder) == {'model.json', 'sub', 'sub/w.bin'}


@pytest.mark.parametrize('entries,symlinks', [
    ({'model.json': MODEL_JSON, '../evil': b'x'}, {}),
    ({'model.json': MODEL_JSON, 'sub/../../evil': b'x'}, {}),
    ({'model.json': MODEL_JSON, '/tmp/evil': b'x'}, {}),
    ({'model.json': MODEL_JSON, 'C:/evil': b'x'}, {}),
    ({'model.json': MODEL_JSON, '..\\evil': b'x'}, {}),
    ({'model.json': MODEL_JSON}, {'link': '../../evil'}),
], ids=['dotdot', 'nested-dotdot', 'absolute', 'drive-letter', 'backslash-dotdot', 'symlink'])
def test_unsafe_zips_are_rejected_without_writing(data: Path, entries: dict[str, bytes],
                                                  symlinks: dict[str, str]) -> None:
    """F16: `../evil`, an absolute path or a symlink rejects the whole zip; nothing is written anywhere."""
    zip_path = make_zip(data / 'tmp' / 'm.zip', entries, symlinks)
    before = all_paths(data.parent)
    with pytest.raises(ArtifactError, match='unsafe zip entry'):
        extract_model(zip_path, data / 'models', '1.1')
    assert all_paths(data.parent) == before
    assert list((data / 'models').iterdir()) == []


def test_no_model_json_is_an_artifact_failure(data: Path) -> None:
    zip_path = make_zip(data / 'tmp' / 'm.zip', {'weights.bin': b'x', 'sub/model.json': MODEL_JSON})
    with pytest.raises(ArtifactError, match='model.json not found'):
        extract_model(zip_path, data / 'models', '1.1')
    assert list((data / 'models').iterdir()) == []


def test_not_a_zip_is_a_transport_failure(data: Path) -> None:
    path = data / 'tmp' / 'm.zip'
    path.write_bytes(b'<html>gateway timeout</html>')
    with pytest.raises(TransportError, match='not a zip'):
        extract_model(path, data / 'models', '1.1')


def test_corrupt_zip_leaves_no_partial_folder(data: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('model.json', MODEL_JSON)
        archive.writestr('big.bin', bytes(range(256)) * 1000)
    for start in (100, 200):  # a broken deflate stream (zlib error) and a bad CRC
        raw = bytearray(buffer.getvalue())
        raw[start:start + 60] = b'\x07' * 60  # damage the compressed data, keep the central directory
        path = data / 'tmp' / 'm.zip'
        path.write_bytes(bytes(raw))
        with pytest.raises(TransportError, match='corrupt zip'):
            extract_model(path, data / 'models', '1.1')
        assert list((data / 'models').iterdir()) == []


def test_entry_count_and_size_limits() -> None:
    infos = [zipfile.ZipInfo(f'f{i}') for i in range(5)]
    check_entries(infos, max_entries=5)
    with pytest.raises(UnsafeZipError, match='6 entries'):
        check_entries(infos + [zipfile.ZipInfo('x')], max_entries=5)
    for info in infos:
        info.file_size = 10
    check_entries(infos, max_bytes=50)
    with pytest.raises(UnsafeZipError, match='more than 49 bytes'):
        check_entries(infos, max_bytes=49)


def test_model_root_prefix_rules() -> None:
    assert model_root_prefix(['model.json', 'a/b']) == ''
    assert model_root_prefix(['top/', 'top/model.json', 'top/x']) == 'top/'
    assert model_root_prefix(['top/model.json', 'other/x']) is None
    assert model_root_prefix(['top/x', 'top/sub/model.json']) is None
    assert model_root_prefix(['x']) is None


def test_existing_folder_without_model_json_is_replaced(data: Path) -> None:
    stale = data / 'models' / '1.1'
    stale.mkdir()
    (stale / 'junk').write_text('old')
    zip_path = make_zip(data / 'tmp' / 'm.zip', {'model.json': MODEL_JSON})
    extract_model(zip_path, data / 'models', '1.1')
    assert all_paths(stale) == {'model.json'}


def test_remove_leftovers(data: Path) -> None:
    (data / 'models' / '1.1.partial' / 'x').mkdir(parents=True)
    (data / 'models' / '1.0').mkdir()
    (data / 'tmp' / 'download-abc.part').write_bytes(b'x')
    (data / 'tmp' / 'outbox-item').write_bytes(b'x')
    remove_leftovers(data)
    assert sorted(p.name for p in (data / 'models').iterdir()) == ['1.0']
    assert sorted(p.name for p in (data / 'tmp').iterdir()) == ['outbox-item']
