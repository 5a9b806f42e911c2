"""HttpServer keep-alive: kept exactly when safe (body consumed, length known); 100-continue, HEAD, HTTP/1.0."""
from __future__ import annotations

import http.client
import socket
from typing import Iterator

import pytest
from flask import Flask, Response, request

from loopnode.service.server import HttpServer
from tests.service.http_raw import exchange, head_of, statuses


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
def port() -> Iterator[int]:
    server = HttpServer(make_app(), '127.0.0.1', 0, name='test-keepalive-http')
    server.start()
    try:
        yield server.port
    finally:
        server.shutdown(2)


def test_requests_with_read_bodies_share_one_connection(port: int) -> None:
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    ports = set()
    for size in (10, 200_000, 0):
        conn.request('POST', '/read', body=b'x' * size)
        response = conn.getresponse()
        length, remote = response.read().decode().split()
        assert response.status == 200 and int(length) == size and response.getheader('Connection') is None
        ports.add(remote)
    conn.request('GET', '/stream')
    response = conn.getresponse()
    assert response.read() == b'part0;part1;part2;' and not response.will_close
    conn.request('POST', '/read', body=b'after chunked')
    assert conn.getresponse().read().startswith(b'13 ')
    assert len(ports) == 1
    conn.close()


def test_a_small_unread_body_is_discarded_and_the_connection_kept(port: int) -> None:
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    conn.request('POST', '/ignore', body=b'y' * 1000)
    response = conn.getresponse()
    assert response.status == 413 and response.getheader('Connection') is None
    response.read()
    conn.request('POST', '/read', body=b'abc')
    assert conn.getresponse().read().startswith(b'3 ')
    conn.close()


def test_a_large_unread_body_closes_the_connection(port: int) -> None:
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    conn.request('POST', '/ignore', body=b'y' * 1_000_000)
    response = conn.getresponse()
    assert response.status == 413 and response.getheader('Connection') == 'close'
    response.read()
    assert response.will_close


@pytest.mark.parametrize('raw', [
    b'POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
    b'POST /read HTTP/1.0\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc',
])
def test_close_requested_and_http10_close(port: int, raw: bytes) -> None:
    answer = exchange(port, raw, half_close=False)
    assert statuses(answer) == [200] and b'\r\n\r\n3 ' in answer and 'Connection: close' in head_of(answer)


def test_expect_100_continue_then_the_answer(port: int) -> None:
    with socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
        sock.sendall(b'POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n')
        assert sock.recv(100) == b'HTTP/1.1 100 Continue\r\n\r\n'
        sock.sendall(b'abcd')
        assert sock.recv(1000).split(b'\r\n\r\n')[1].startswith(b'4 ')


def test_head_gets_no_body(port: int) -> None:
    answer = exchange(port, b'HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\n'
                            b'Connection: close\r\n\r\n', half_close=False)
    first, rest = answer.split(b'\r\n\r\n', 1)
    assert first.startswith(b'HTTP/1.1 200') and rest.startswith(b'HTTP/1.1 200')
    assert rest.endswith(b'0\r\n\r\n') and b'part2;' in rest


def test_a_request_stuck_past_the_grace_is_reported_as_a_straggler() -> None:
    """Shutdown gives up after the grace; the stuck request's thread is named so the node can exit anyway."""
    import threading

    from tests.helpers import until
    release, entered = threading.Event(), threading.Event()
    app = Flask(__name__)

    @app.get('/block')
    def block() -> str:
        entered.set()
        release.wait(10)
        return 'late'
    server = HttpServer(app, '127.0.0.1', 0, name='test-stuck')
    server.start()
    caller = threading.Thread(target=lambda: exchange(server.port, b'GET /block HTTP/1.1\r\nHost: x\r\n\r\n'),
                              name='stuck-client')
    caller.start()
    try:
        until(entered.is_set, 5)
        assert server.shutdown(grace=0.2) is False
        assert server.stragglers() and server.stragglers()[0].startswith('test-stuck-conn-')
    finally:
        release.set()
        caller.join(5)
    until(lambda: not server.stragglers(), 5)
