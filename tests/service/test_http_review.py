"""Review findings over real TCP: bodies of 204/304 answers, underscore spellings of framing headers."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
from flask import Flask, request

from loopnode.service.server import HttpServer
from tests.service.http_raw import exchange, statuses


def no_body_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """A raw WSGI app that (wrongly) gives a 304 or 204 a body, once with and once without a length."""
    status = '304 Not Modified' if environ['PATH_INFO'] == '/304' else '204 No Content'
    headers = [('Content-Length', '5')] if environ.get('QUERY_STRING') == 'length' else []
    start_response(status, headers)
    return [b'hello']


@pytest.fixture
def server() -> Iterator[HttpServer]:
    server = HttpServer(no_body_app, '127.0.0.1', 0, name='test-review-http')
    server.start()
    try:
        yield server
    finally:
        server.shutdown(2)


@pytest.mark.parametrize('target', ['/304', '/304?length', '/204', '/204?length'])
def test_a_304_or_204_answer_never_carries_body_bytes(server: HttpServer, target: str) -> None:
    """A body the app gives a 304/204 would be read by the client as the start of the next answer."""
    answer = exchange(server.port, f'GET {target} HTTP/1.1\r\nHost: x\r\n\r\n'
                                   f'GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode(),
                      half_close=False)
    assert b'hello' not in answer, answer
    assert len(statuses(answer)) == 2


def test_an_underscore_transfer_encoding_does_not_hide_the_body_from_flask() -> None:
    """`Transfer_Encoding: chunked` is not framing (we go by Content-Length), so Flask must see the body too."""
    app = Flask(__name__)

    @app.post('/read')
    def read() -> str:
        return f'got {request.get_data()!r} camera={request.headers.get("camera_id")}'
    server = HttpServer(app, '127.0.0.1', 0, name='test-review-flask')
    server.start()
    try:
        answer = exchange(server.port, b'POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
                                       b'Transfer_Encoding: chunked\r\ncamera_id: cam1\r\nConnection: close\r\n\r\n'
                                       b'hello')
    finally:
        server.shutdown(2)
    assert b"got b'hello' camera=cam1" in answer, answer


def test_wsgi_input_readline_stops_after_the_first_newline() -> None:
    """PEP 3333 / io: `wsgi.input.readline()` returns one line even when one recv brought several."""
    import socket

    from loopnode.service.httpd.body import LengthBody, SocketReader
    from loopnode.service.httpd.limits import HttpLimits
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b'ab\ncd\nef')
        body = LengthBody(SocketReader(ours, HttpLimits()), 8)
        assert body.readline() == b'ab\n'
        assert body.readline() == b'cd\n'
        assert body.read() == b'ef'


@pytest.mark.parametrize('target', ['http://[::1/x', '//[x/y'])
def test_a_target_urlsplit_refuses_gets_400(server: HttpServer, target: str) -> None:
    """Garbage gets a status line: a target that `urlsplit` cannot split (unclosed IPv6 bracket) is a 400."""
    answer = exchange(server.port, f'GET {target} HTTP/1.1\r\nHost: x\r\n\r\n'.encode())
    assert statuses(answer) == [400], answer


def test_a_streaming_answer_can_still_read_the_body() -> None:
    """A WSGI app may read its (small) body while its answer streams: the server must not discard it first."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response('200 OK', [('Content-Type', 'text/plain')])
        yield b'first;'
        yield b'read %r;' % environ['wsgi.input'].read(5)
    server = HttpServer(app, '127.0.0.1', 0, name='test-review-stream')
    server.start()
    try:
        answer = exchange(server.port, b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello'
                                       b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', half_close=False)
    finally:
        server.shutdown(2)
    assert b"read b'hello';" in answer, answer
    assert len(statuses(answer)) == 2, answer


def test_shutdown_lets_a_chunked_body_in_transfer_finish_within_the_grace() -> None:
    """Shutdown waits for requests in flight; a chunked body still arriving is one (it was cut at once)."""
    import socket
    import threading

    from tests.helpers import until
    from tests.service.http_raw import read_to_close
    app = Flask(__name__)

    @app.post('/read')
    def read() -> str:
        return f'got {len(request.get_data())}'
    server = HttpServer(app, '127.0.0.1', 0, name='test-review-grace')
    server.start()
    stopper = threading.Thread(target=server.shutdown, args=(5.0,), name='review-stopper')
    try:
        with socket.create_connection(('127.0.0.1', server.port), timeout=10) as sock:
            sock.sendall(b'POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
            until(lambda: server.open_connections == 1, 5)
            until(lambda: server.in_flight == 1, 5, message='a request whose head was read is in flight')
            stopper.start()
            until(lambda: not server.is_alive(), 5)  # accepting has ended: the shutdown is in its grace
            sock.sendall(b'3\r\nabc\r\n0\r\n\r\n')
            answer = read_to_close(sock)
    finally:
        if stopper.ident is None:
            server.shutdown(1)
        else:
            stopper.join(10)
    assert b'got 8' in answer, answer
