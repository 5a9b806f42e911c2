"""Model download and safe unzip (detector.md §7.4): F16 unit tests; D18 and F15 against devloop."""
from __future__ import annotations

import io
import json
import os
import socket
import stat
import threading
import time
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
import requests

from loopnode.devloop import DEMO_ORG, DEMO_PROJECT, DevLoop, add_model_format
from loopnode.loop.http import LoopHttp
from loopnode.loop.transfer import (ArtifactError, TransportError, UnsafeZipError, check_entries, extract_model,
                                    fetch_model, model_root_prefix, remove_leftovers)
from loopnode.settings import Settings
from tests.fixtures_devloop import devloop  # noqa: F401 - shared fixture

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


# ---- against devloop ---------------------------------------------------------------------------------------

def loop_http(data: Path, loop_url: str) -> LoopHttp:
    return LoopHttp(Settings.from_env({'DATA_FOLDER': str(data), 'LOOP_HOST': loop_url,
                                       'LOOP_ORGANIZATION': DEMO_ORG, 'LOOP_PROJECT': DEMO_PROJECT},
                                      node_type='detector'))


def test_mocked_download_from_devloop(devloop: DevLoop, data: Path) -> None:
    """D18: the `mocked` model of 1.1 yields exactly file_1.txt, file_2.txt and model.json with format mocked."""
    http = loop_http(data, devloop.url)
    try:
        folder = fetch_model(http, '00000000-0000-0000-0000-000000000011', '1.1', 'mocked', data)
    finally:
        http.close()
    assert sorted(p.name for p in folder.iterdir()) == ['file_1.txt', 'file_2.txt', 'model.json']
    assert (folder / 'file_1.txt').read_text() == 'content of file one'
    assert (folder / 'file_2.txt').read_text() == 'content of file two'
    model_json = json.loads((folder / 'model.json').read_text())
    assert model_json['format'] == 'mocked' and model_json['version'] == '1.1'
    assert list((data / 'tmp').iterdir()) == []


def test_unknown_model_is_a_transport_failure(devloop: DevLoop, data: Path) -> None:
    http = loop_http(data, devloop.url)
    try:
        with pytest.raises(TransportError, match='^DownloadError: HTTP 404'):
            fetch_model(http, '00000000-0000-0000-0000-000000000000', '9.9', 'mocked', data)
    finally:
        http.close()
    assert list((data / 'tmp').iterdir()) == [] and list((data / 'models').iterdir()) == []


class ThrottledProxy:
    """A loopback TCP proxy whose upstream→client direction carries at most `rate` bytes/s: a slow link to devloop."""

    def __init__(self, upstream: str, rate: float) -> None:
        host, port = upstream.rsplit('//', 1)[1].split(':')
        self.upstream = (host, int(port))
        self.rate = rate
        self.stop = threading.Event()
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.listener.settimeout(0.1)
        self.url = f'http://127.0.0.1:{self.listener.getsockname()[1]}'
        self.threads: list[threading.Thread] = []
        self.sockets: list[socket.socket] = [self.listener]
        self._spawn(self._accept, 'proxy-accept')

    def _spawn(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name)  # type: ignore[arg-type]
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            self._spawn(self._pump, 'proxy-up', client, server, 0.0)
            self._spawn(self._pump, 'proxy-down', server, client, self.rate)

    def _pump(self, source: socket.socket, sink: socket.socket, rate: float) -> None:
        source.settimeout(0.1)
        started: float | None = None
        sent = 0
        try:
            while not self.stop.is_set():
                try:
                    chunk = source.recv(64 * 1024)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                started = time.monotonic() if started is None else started  # no credit for idle time
                sink.sendall(chunk)
                sent += len(chunk)
                if rate and started is not None:
                    ahead = sent / rate - (time.monotonic() - started)
                    if ahead > 0:
                        self.stop.wait(ahead)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        for sock in self.sockets:
            sock.close()
        for thread in self.threads:
            thread.join(5)


def big_zip(size: int) -> bytes:
    """A model zip with one incompressible file of `size` bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', compression=zipfile.ZIP_STORED) as archive:
        archive.writestr('weights.bin', os.urandom(size))
    return buffer.getvalue()


@pytest.fixture
def slow_loop(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[DevLoop, int]]:
    """devloop with format `big` on model 1.1; the model size is the (indirect) parameter."""
    size = int(request.param)
    zip_bytes = big_zip(size)
    loop = DevLoop(tmp_path / 'devloop', seed_hooks=[lambda store: add_model_format(
        store, DEMO_PROJECT, '1.1', 'big', zip_bytes)])
    loop.start()
    try:
        yield loop, size
    finally:
        loop.stop()


def download_through(loop: DevLoop, data: Path, rate: float) -> tuple[Path, float]:
    proxy = ThrottledProxy(loop.url, rate)
    http = loop_http(data, proxy.url)
    started = time.monotonic()
    try:
        folder = fetch_model(http, '00000000-0000-0000-0000-000000000011', '1.1', 'big', data)
    finally:
        http.close()
        proxy.close()
    return folder, time.monotonic() - started


@pytest.mark.parametrize('slow_loop', [4 * 1024 * 1024], indirect=True)
def test_slow_download_completes_fast_variant(slow_loop: tuple[DevLoop, int], data: Path) -> None:
    """F15 (fast variant): a 4 MiB model at 2 MB/s after 1 s of devloop latency downloads completely."""
    loop, size = slow_loop
    rule = requests.post(f'{loop.url}/admin/faults', timeout=10, json={
        'match': {'method': 'GET', 'path': '/api/*/projects/*/models/*/big/file'}, 'latency_ms': 1000, 'times': 1})
    assert rule.status_code == 200
    folder, seconds = download_through(loop, data, 2e6)
    assert (folder / 'weights.bin').stat().st_size == size
    assert seconds >= 1 + size / 2e6 * 0.9  # the link really was slow
    assert list((data / 'tmp').iterdir()) == []


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize('slow_loop', [100 * 1000 * 1000], indirect=True)
def test_slow_download_completes_100mb(slow_loop: tuple[DevLoop, int], data: Path) -> None:
    """F15: a 100 MB model served at 1 MB/s (~100 s) downloads completely."""
    loop, size = slow_loop
    folder, seconds = download_through(loop, data, 1e6)
    assert (folder / 'weights.bin').stat().st_size == size
    assert seconds >= 90
