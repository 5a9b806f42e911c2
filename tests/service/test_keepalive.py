"""service/keepalive.py: keep-alive only when the request body was read completely."""
from __future__ import annotations

import http.client
import socket
import threading
from typing import Iterator

import pytest
from flask import Flask, Response, request

from loopnode.service.server import NodeRequestHandler, TrackingServer


def make_app() -> Flask:
    app = Flask(__name__)

    @app.post('/read')
    def read() -> Response:
        body = request.get_data()
        return Response(f'{len(body)} {request.environ["REMOTE_PORT"]}', mimetype='text/plain')

    @app.post('/ignore')
    def ignore() -> tuple[str, int]:
        return 'refused without reading', 413

    @app.get('/stream')
    def stream() -> Response:
        return Response((f'part{i};' for i in range(3)), mimetype='text/plain')  # no length: chunked
    return app


@pytest.fixture
def url_port() -> Iterator[int]:
    server = TrackingServer('127.0.0.1', 0, make_app(), NodeRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name='test-keepalive-http')
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.close_connections(2)
        server.server_close()
        thread.join(5)


def test_requests_with_read_bodies_share_one_connection(url_port: int) -> None:
    conn = http.client.HTTPConnection('127.0.0.1', url_port, timeout=5)
    ports = set()
    for size in (10, 200_000, 0):
        conn.request('POST', '/read', body=b'x' * size)
        response = conn.getresponse()
        length, port = response.read().decode().split()
        assert response.status == 200 and int(length) == size and response.getheader('Connection') is None
        ports.add(port)
    conn.request('GET', '/stream')
    response = conn.getresponse()
    assert response.read() == b'part0;part1;part2;' and not response.will_close
    conn.request('POST', '/read', body=b'after chunked')
    assert conn.getresponse().read().startswith(b'13 ')
    assert len(ports) == 1
    conn.close()


def test_unread_body_closes_the_connection(url_port: int) -> None:
    conn = http.client.HTTPConnection('127.0.0.1', url_port, timeout=5)
    conn.request('POST', '/ignore', body=b'y' * 100_000)
    response = conn.getresponse()
    assert response.status == 413 and response.getheader('Connection') == 'close'
    response.read()
    assert response.will_close


@pytest.mark.parametrize('raw', [
    b'POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
    b'POST /read HTTP/1.0\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc',
    b'POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
])
def test_close_requested_http10_and_chunked_bodies_close(url_port: int, raw: bytes) -> None:
    with socket.create_connection(('127.0.0.1', url_port), timeout=5) as sock:
        sock.sendall(raw)
        received = b''
        while chunk := sock.recv(65536):  # the server closes: recv returns b'' instead of timing out
            received += chunk
    assert received.startswith(b'HTTP/1.') and b'\r\n\r\n3 ' in received
