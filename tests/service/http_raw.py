"""Raw-TCP helpers for the HTTP server tests: a detector node with small limits, answers, baselines."""
from __future__ import annotations

import io
import os
import socket
import threading
import uuid
from typing import Iterator

import pytest
import requests

from loopnode.detector import DetectorNode, MockDetectorFactory
from tests.detector.conftest import UNREACHABLE_LOOP, jpeg_bytes, node_settings, write_model
from tests.helpers import until

MIB = 1024 * 1024
NODE_ENV = {'HTTP_KEEPALIVE_TIMEOUT_SEC': '0.5', 'HTTP_HEADER_TIMEOUT_SEC': '1', 'HTTP_BODY_TIMEOUT_SEC': '2',
            'HTTP_MAX_CONNECTIONS': '1100'}


@pytest.fixture(scope='module')
def detector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DetectorNode]:
    """A mock detector serving model 0.0 (Loop unreachable) with short HTTP timeouts; module-wide."""
    data = tmp_path_factory.mktemp('http') / 'node'
    write_model(data)
    node = DetectorNode(MockDetectorFactory(), name='http test detector',
                        settings=node_settings(data, UNREACHABLE_LOOP, **NODE_ENV))
    node.start()
    try:
        until(lambda: node.model_manager.slot.state == 'active', timeout=10, message='model active')
        # start-up ends with mode `idle` and the repeat worker: the threads of every test's baseline
        until(lambda: requests.get(node.url + '/operation_mode', timeout=5).text == 'idle', timeout=10,
              message='mode idle')
        assert_detects(node)
        yield node
    finally:
        node.stop()


def assert_detects(node: DetectorNode) -> None:
    """The node still answers a real `/detect` (multipart JPEG) with detections."""
    files = {'file': ('image.jpg', jpeg_bytes(), 'image/jpeg')}
    response = requests.post(node.url + '/detect', files=files, headers={'autoupload': 'disabled'}, timeout=10)
    assert response.status_code == 200 and 'box_detections' in response.json(), response.text


def connection_threads(prefix: str = '') -> int:
    """Connection threads alive (of the server whose thread names start with `prefix`, or of all)."""
    return sum(1 for t in threading.enumerate() if '-conn-' in t.name and t.name.startswith(prefix))


def rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


class Baseline:
    """Thread count and RSS of this process at the start of a test."""

    def __init__(self) -> None:
        self.threads = threading.active_count()
        self.rss = rss_bytes()


def assert_back_to_baseline(node: DetectorNode, base: Baseline, rss_margin: int = 48 * MIB) -> None:
    """`/detect` works, the thread count is back to the baseline (idle connection threads end) and so is RSS."""
    assert_detects(node)
    until(lambda: threading.active_count() <= base.threads, timeout=10,
          message=f'threads {threading.active_count()} back to {base.threads}')
    until(lambda: rss_bytes() < base.rss + rss_margin, timeout=10,
          message=f'RSS {rss_bytes() / MIB:.0f} MiB back under {(base.rss + rss_margin) / MIB:.0f} MiB')


def exchange(port: int, data: bytes, *, half_close: bool = True, timeout: float = 10) -> bytes:
    """Send `data` on a fresh connection, optionally shut our write side, and read until the server closes."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return read_to_close(sock)


def read_to_close(sock: socket.socket) -> bytes:
    received = b''
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def statuses(answer: bytes) -> list[int]:
    """Status codes of every answer in `answer` (status lines at the start or after a body)."""
    codes = []
    for part in answer.split(b'HTTP/1.1 ')[1:]:
        code = part[:3]
        if code.isdigit():
            codes.append(int(code))
    return codes


def head_of(answer: bytes) -> str:
    return answer.split(b'\r\n\r\n', 1)[0].decode('latin-1')


def multipart_jpeg() -> tuple[bytes, str]:
    """A multipart/form-data body with one JPEG `file` field and its content type."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
               'Content-Type: image/jpeg\r\n\r\n'.encode())
    body.write(jpeg_bytes())
    body.write(f'\r\n--{boundary}--\r\n'.encode())
    return body.getvalue(), f'multipart/form-data; boundary={boundary}'


def chunked(data: bytes, size: int = 1000) -> bytes:
    return b''.join(b'%x\r\n%s\r\n' % (len(data[i:i + size]), data[i:i + size])
                    for i in range(0, len(data), size)) + b'0\r\n\r\n'
