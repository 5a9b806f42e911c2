"""Fault options `bytes_per_second` (slow bodies) and raw answers `body_text` / `body_base64` (§11.6 additions)."""
from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import pytest
import requests
from urllib3.exceptions import ProtocolError

from loopnode.devloop import DevLoop
from loopnode.devloop.faults import FaultSpecError, HttpFault
from loopnode.devloop.throttle import chunk_size, throttled
from tests.devloop.conftest import DEMO
from tests.helpers import until


def add_fault(loop: DevLoop, rule: dict) -> requests.Response:
    return requests.post(loop.url + '/admin/faults', json=rule, timeout=5)


def raw_model(loop: DevLoop, content: bytes) -> str:
    """Upload `content` verbatim as format `big`; returns its download URL."""
    response = requests.post(loop.url + DEMO + '/big?raw=true', files={'files': ('m.zip', content)}, timeout=10)
    return loop.url + DEMO + f'/models/{response.json()["id"]}/big/file'


class ClosingBody:
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self.closed = False

    def __iter__(self):  # noqa: ANN204 - iterator protocol
        return iter(self.parts)

    def close(self) -> None:
        self.closed = True


def test_throttled_pacing_chunks_and_stop() -> None:
    """Pure: chunks of ~1/20 s, paced to the rate, the wrapped body closed; a set stop event cuts it at once."""
    assert chunk_size(1) == 1 and chunk_size(2000) == 100 and chunk_size(10**9) == 64 * 1024
    body = ClosingBody([b'a' * 250, b'b' * 150])
    started = time.monotonic()
    chunks = list(throttled(body, 2000, threading.Event()))
    assert b''.join(chunks) == b'a' * 250 + b'b' * 150 and max(len(c) for c in chunks) == 100
    assert time.monotonic() - started >= (400 - 100) / 2000 - 0.01 and body.closed
    stop = threading.Event()
    stop.set()
    cut = ClosingBody([b'x' * 10_000])
    started = time.monotonic()
    with pytest.raises(ConnectionAbortedError):
        list(throttled(cut, 100, stop))
    assert time.monotonic() - started < 2.0 and cut.closed  # at once: the paced body would take 100 s


def test_rule_validation() -> None:
    for bad in ({'bytes_per_second': 0}, {'bytes_per_second': -5}, {'bytes_per_second': 'fast'},
                {'body_text': 'x'}, {'status': 500, 'body': {}, 'body_text': 'x'},
                {'status': 500, 'body_base64': '***'}, {'status': 500, 'body_text': 3},
                {'latency_ms': 5, 'content_type': 'text/html'}):
        with pytest.raises(FaultSpecError):
            HttpFault.from_dict(bad)
    assert HttpFault.from_dict({'bytes_per_second': 1000}).to_dict()['bytes_per_second'] == 1000


def test_bytes_per_second_slows_a_model_download(loop: DevLoop) -> None:
    """§11.6 `bytes_per_second`: the real answer arrives complete but paced (F15/F26 use it for slow models)."""
    content = bytes(range(256)) * 40  # 10240 bytes
    url = raw_model(loop, content)
    rule = add_fault(loop, {'match': {'path': '/api/**/file'}, 'bytes_per_second': 5_000, 'times': 1}).json()['id']
    started = time.monotonic()
    response = requests.get(url, stream=True, timeout=5)
    first = response.raw.read(1000)
    first_seconds = time.monotonic() - started
    rest = response.raw.read()
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and first + rest == content
    assert int(response.headers['Content-Length']) == len(content)
    # paced from the first chunk: 1000 bytes in ~0.2 s, the rest ≥ (10240 - 1000) / 5000 s; bounds for a loaded machine
    assert first_seconds < 1.0 and 1.7 <= elapsed < 10, (first_seconds, elapsed)
    assert requests.get(url, timeout=5).content == content  # times: 1 → the next one is not paced (the log says)
    log = requests.get(loop.url + '/admin/requests', timeout=5).json()['requests']
    assert [e['status'] for e in log if e['fault'] == rule] == [200]


def test_raw_fault_bodies(loop: DevLoop) -> None:
    """§11.6 `body_text` / `body_base64` (+ `content_type`): non-JSON answers, also throttled with a status."""
    add_fault(loop, {'match': {'path': '/api/status'}, 'status': 502, 'body_text': '<html>bad gateway</html>',
                     'content_type': 'text/html', 'times': 1})
    answer = requests.get(loop.url + '/api/status', timeout=5)
    assert answer.status_code == 502 and answer.text == '<html>bad gateway</html>'
    assert answer.headers['Content-Type'] == 'text/html'
    add_fault(loop, {'match': {'path': '/api/status'}, 'status': 500, 'body_text': 'plain', 'times': 1})
    answer = requests.get(loop.url + '/api/status', timeout=5)
    assert answer.text == 'plain' and answer.headers['Content-Type'] == 'text/plain; charset=utf-8'
    blob = b'PK\x03\x04' + bytes(range(256)) * 8
    add_fault(loop, {'match': {'path': '/api/**/file'}, 'status': 200, 'times': 1, 'bytes_per_second': 8000,
                     'body_base64': base64.b64encode(blob).decode()})
    started = time.monotonic()
    answer = requests.get(loop.url + DEMO + '/models/x/mocked/file', timeout=5)
    assert answer.status_code == 200 and answer.content == blob
    assert answer.headers['Content-Type'] == 'application/octet-stream'
    assert time.monotonic() - started >= (len(blob) - 400) / 8000
    assert add_fault(loop, {'status': 500, 'body_base64': 'not base64!'}).status_code == 422
    assert requests.get(loop.url + '/api/status', timeout=5).json()['status'] == 'ok'


def test_stop_is_fast_during_a_throttled_download(tmp_path: Path) -> None:
    """§11.6: a slow body does not hold devloop.stop() up; the client sees the connection end."""
    loop = DevLoop(tmp_path / 'loop')
    loop.start()
    try:
        url = raw_model(loop, b'z' * 1_000_000)
        add_fault(loop, {'match': {'path': '/api/**/file'}, 'bytes_per_second': 1000})
        received: list[int] = []
        errors: list[BaseException] = []

        def fetch() -> None:
            try:
                with requests.get(url, stream=True, timeout=10) as response:
                    while piece := response.raw.read(50):
                        received.append(len(piece))
            except (requests.RequestException, ProtocolError) as e:
                errors.append(e)
        client = threading.Thread(target=fetch, name='slow-download-client')
        client.start()
        until(lambda: sum(received) >= 100, timeout=5)
    finally:
        started = time.monotonic()
        loop.stop()
        stop_seconds = time.monotonic() - started
    client.join(10)
    assert stop_seconds < 2, stop_seconds
    assert not client.is_alive() and sum(received) < 1_000_000 and errors
