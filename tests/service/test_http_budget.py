"""The server-wide spool budget of chunked bodies, the token check before spooling, and a bounded shutdown.

Every test runs a real `HttpServer` on loopback and talks to it over raw sockets.
"""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask, request

from loopnode.service.httpd.budget import SpoolBudget
from loopnode.service.httpd.limits import HttpLimits
from loopnode.service.node import NodeService
from loopnode.service.server import HttpServer
from tests.helpers import until
from tests.service.http_raw import MIB, chunked, connection_threads, exchange, head_of, read_to_close, statuses
from tests.service.test_node import settings_for

CHUNK = 64 * 1024
HEAD = b'POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'


def budget_app() -> Flask:
    app = Flask(__name__)
    app.config['MAX_CONTENT_LENGTH'] = 4 * MIB

    @app.post('/size')
    def size() -> str:
        return str(len(request.get_data()))

    @app.post('/boom')
    def boom() -> str:
        request.get_data()
        raise RuntimeError('the app failed')

    @app.get('/ok')
    def ok() -> str:
        return 'ok'
    return app


@pytest.fixture
def server(tmp_path: Path) -> Iterator[HttpServer]:
    """Bodies up to 4 MiB each, 6 MiB of spool for all of them together (two 3 MiB bodies fill it)."""
    limits = HttpLimits(max_body=4 * MIB, spool_budget=6 * MIB, spool_memory=256 * 1024, spool_dir=tmp_path,
                        keepalive_timeout=30, linger=0.5)
    srv = HttpServer(budget_app(), '127.0.0.1', 0, name='budget', limits=limits)
    srv.start()
    try:
        yield srv
    finally:
        srv.shutdown(1)


def start_body(port: int, size: int) -> socket.socket:
    """A connection that has sent the head and `size` bytes of a chunked body, and not its end."""
    sock = socket.create_connection(('127.0.0.1', port), timeout=10)
    sock.sendall(HEAD)
    for _ in range(size // CHUNK):
        sock.sendall(b'%x\r\n%s\r\n' % (CHUNK, b'b' * CHUNK))
    return sock


def finish_body(sock: socket.socket) -> bytes:
    with sock:
        sock.sendall(b'0\r\n\r\n')
        sock.shutdown(socket.SHUT_WR)
        return read_to_close(sock)


def one_chunked_body(port: int, size: int, target: bytes = b'/size') -> bytes:
    head = HEAD.replace(b'/size', target).replace(b'\r\n\r\n', b'\r\nConnection: close\r\n\r\n')
    return exchange(port, head + chunked(b'c' * size, CHUNK))


def test_the_budget_counts_reservations_and_refuses_what_does_not_fit() -> None:
    budget = SpoolBudget(10)
    assert budget.reserve(6) and not budget.reserve(5) and budget.used == 6
    assert budget.reserve(4) and budget.used == 10
    budget.release(10)
    assert budget.used == 0 and budget.reserve(10)


def test_parallel_chunked_bodies_past_the_budget_get_503_then_are_accepted_again(server: HttpServer) -> None:
    """Two bodies in transfer hold the whole budget: a third gets 503 + Retry-After; after they end, 200."""
    held = [start_body(server.port, 3 * MIB) for _ in range(2)]
    until(lambda: server.spool_used == 6 * MIB, timeout=10, message='both bodies spooled')
    refused = one_chunked_body(server.port, CHUNK)
    assert statuses(refused) == [503], refused[:200]
    assert 'Retry-After: 2' in head_of(refused) and 'Connection: close' in head_of(refused)
    plain = exchange(server.port, b'GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert statuses(plain) == [200]  # only chunked bodies are spooled; the rest is served meanwhile
    answers = [finish_body(sock) for sock in held]
    assert all(statuses(a) == [200] and a.endswith(str(3 * MIB).encode()) for a in answers), answers
    until(lambda: server.spool_used == 0, timeout=5, message='budget released')
    again = one_chunked_body(server.port, 3 * MIB)
    assert statuses(again) == [200] and again.endswith(str(3 * MIB).encode())
    until(lambda: server.spool_used == 0, timeout=5)


def test_a_client_vanishing_mid_body_releases_its_budget(server: HttpServer) -> None:
    sock = start_body(server.port, 2 * MIB)
    until(lambda: server.spool_used == 2 * MIB, timeout=10, message='body spooled')
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')  # reset on close
    sock.close()
    until(lambda: server.spool_used == 0, timeout=5, message='budget released after the reset')
    until(lambda: server.open_connections == 0, timeout=5)
    assert statuses(one_chunked_body(server.port, 5 * MIB // 2)) == [200]


@pytest.mark.parametrize(('target', 'size', 'status'), [(b'/boom', MIB, 500), (b'/size', 5 * MIB, 413)])
def test_an_app_error_or_a_413_releases_the_budget(server: HttpServer, target: bytes, size: int,
                                                   status: int) -> None:
    assert statuses(one_chunked_body(server.port, size, target)) == [status]
    until(lambda: server.spool_used == 0, timeout=5, message='budget released')


def test_a_chunked_body_without_the_token_gets_401_before_it_is_sent(tmp_path: Path) -> None:
    """F33 (server part): with NODE_API_TOKEN a chunked request is refused on its head; nothing is spooled."""
    node = NodeService(settings_for(tmp_path, NODE_API_TOKEN='s3cret'), name='token node')
    node.start()
    try:
        with socket.create_connection(('127.0.0.1', node.port), timeout=10) as sock:
            sock.sendall(b'PUT /debug_logging HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
            answer = read_to_close(sock)  # no body sent: the answer comes anyway
        assert statuses(answer) == [401] and b'"unauthorized"' in answer
        good = exchange(node.port, b'PUT /debug_logging HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
                                   b'Authorization: Bearer s3cret\r\nConnection: close\r\n\r\n' + chunked(b'off'))
        assert statuses(good) == [200] and good.endswith(b'"off"\n')
    finally:
        node.stop()


def test_shutdown_closes_idle_keepalive_connections_and_joins_every_connection_thread(tmp_path: Path) -> None:
    """Idle keep-alive connections (as a browser keeps them between pages) and silent pre-connections end at
    once at shutdown; when `shutdown` returns no connection thread is alive (they are non-daemon)."""
    limits = HttpLimits(keepalive_timeout=60, header_timeout=60, join_timeout=2)
    srv = HttpServer(budget_app(), '127.0.0.1', 0, name='idle', limits=limits)
    srv.start()
    clients = []
    try:
        for _ in range(20):
            sock = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
            sock.sendall(b'GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')
            assert sock.recv(4096).startswith(b'HTTP/1.1 200 ')
            clients.append(sock)
        clients += [socket.create_connection(('127.0.0.1', srv.port), timeout=10) for _ in range(5)]
        until(lambda: srv.open_connections == 25, timeout=10)
        # a connection's pool thread starts a moment after the connection is counted
        threads = until(lambda: [t for t in threading.enumerate() if t.name.startswith('idle-conn-')] if
                        connection_threads('idle-conn-') == 25 else None, timeout=10)
        assert len(threads) == 25 and not any(t.daemon for t in threads)
        started = time.monotonic()
        assert srv.shutdown(grace=30) is True
        assert time.monotonic() - started < 10, 'shutdown waited for idle connections'  # their timeout is 60 s
        assert connection_threads('idle-conn-') == 0 and srv.stragglers() == []
        for sock in clients:
            assert read_to_close(sock) == b''  # closed by the server, no answer
    finally:
        for sock in clients:
            sock.close()
        if srv.is_alive():
            srv.shutdown(0)


def test_a_thread_stuck_in_the_app_past_the_bound_is_logged_by_name(caplog: pytest.LogCaptureFixture) -> None:
    release, entered = threading.Event(), threading.Event()
    app = Flask(__name__)

    @app.get('/block')
    def block() -> str:
        entered.set()
        release.wait(10)
        return 'late'
    srv = HttpServer(app, '127.0.0.1', 0, name='stuck', limits=HttpLimits(join_timeout=0.2))
    srv.start()
    caller = threading.Thread(target=lambda: exchange(srv.port, b'GET /block HTTP/1.1\r\nHost: x\r\n\r\n'),
                              name='stuck-client')
    caller.start()
    try:
        until(entered.is_set, 5)
        with caplog.at_level('ERROR', logger='loopnode.service.server'):
            assert srv.shutdown(grace=0.2) is False
        assert any('still running' in r.getMessage() and 'stuck-conn-1' in r.getMessage() for r in caplog.records)
    finally:
        release.set()
        caller.join(5)
    until(lambda: not srv.stragglers(), 5)
