"""Issue 19 over real TCP: bounded connections, threads and memory (idle keep-alive, slowloris, 503, bodies)."""
from __future__ import annotations

import selectors
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest
from flask import Flask, request

from loopnode.detector import DetectorNode
from loopnode.service.httpd.limits import HttpLimits
from loopnode.service.server import HttpServer
from tests.helpers import until
from tests.service.http_raw import (MIB, Baseline, assert_back_to_baseline, assert_detects, connection_threads,
                                    detector, exchange, head_of, read_to_close, rss_bytes, statuses)

__all__ = ['detector']  # the module fixture

HEALTHZ = b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'


def open_connections(port: int, n: int, first: bytes) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        sock.sendall(first)
        socks.append(sock)
    return socks


def wait_all_closed(socks: list[socket.socket], timeout: float) -> dict[socket.socket, bytes]:
    """Read every socket until the server closes it; fail after `timeout`."""
    received = {s: b'' for s in socks}
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    open_ = set(socks)

    def step() -> bool:
        for key, _ in selector.select(0.05):
            sock = key.fileobj
            try:
                data = sock.recv(65536)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b''
            if data:
                received[sock] += data  # type: ignore[index]
            else:
                selector.unregister(sock)
                open_.discard(sock)  # type: ignore[arg-type]
        return not open_
    try:
        until(step, timeout=timeout, interval=0, message=f'{len(open_)} connections still open')
    finally:
        selector.close()
        for sock in socks:
            sock.close()
    return received


def test_1000_idle_keepalive_connections_are_closed_after_the_idle_timeout(detector: DetectorNode) -> None:
    """Issue 19 keep-alive idle timeout: 1,000 kept connections, each answered once, all closed by the server."""
    base = Baseline()
    socks = open_connections(detector.port, 1000, HEALTHZ)
    received = wait_all_closed(socks, timeout=30)
    assert all(statuses(data) == [200] for data in received.values())
    assert_back_to_baseline(detector, base)


def test_300_slowloris_connections_get_408_and_the_node_serves_meanwhile(detector: DetectorNode) -> None:
    """Issue 19 header read timeout: heads that never finish are answered 408 and closed; /detect still works."""
    base = Baseline()
    socks = open_connections(detector.port, 300, b'GET /healthz HTTP/1.1\r\nHost: x\r\nX-a: b\r\n')
    assert_detects(detector)  # while they hold their connections
    received = wait_all_closed(socks, timeout=30)
    assert all(statuses(data) == [408] and b'Connection: close' in data for data in received.values())
    assert_back_to_baseline(detector, base)


def test_10000_connect_close_cycles(detector: DetectorNode) -> None:
    """Issue 19 listen backlog (≥ 1024) and a fast accept loop: connect/close cycles, then the node serves."""
    base = Baseline()
    assert HttpLimits().backlog >= 1024
    for _ in range(10000):
        socket.create_connection(('127.0.0.1', detector.port), timeout=10).close()
    assert_back_to_baseline(detector, base)


def test_pipelined_requests_are_answered_in_order(detector: DetectorNode) -> None:
    """Issue 19 keep-so: pipelining: three requests in one send, three answers in order on one connection."""
    raw = HEALTHZ + b'GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n' + b'GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    answer = exchange(detector.port, raw, half_close=False)
    assert statuses(answer) == [200, 404, 200]


def test_200_concurrent_detects(detector: DetectorNode) -> None:
    """Issue 19 keep-so: 200 concurrent /detect calls all answered."""
    with ThreadPoolExecutor(200, thread_name_prefix='detect-client') as pool:
        list(pool.map(lambda _: assert_detects(detector), range(200)))


# ---- a small server for the connection and body limits ------------------------------------------------------

def small_app() -> Flask:
    app = Flask(__name__)
    app.config['MAX_CONTENT_LENGTH'] = 4 * MIB

    @app.post('/size')
    def size() -> str:
        return str(len(request.get_data()))

    @app.get('/ok')
    def ok() -> str:
        return 'ok'
    return app


@pytest.fixture
def small() -> Iterator[HttpServer]:
    limits = HttpLimits(max_connections=8, keepalive_timeout=30, max_body=4 * MIB, spool_memory=256 * 1024,
                        linger=0.5)
    server = HttpServer(small_app(), '127.0.0.1', 0, name='small', limits=limits)
    server.start()
    try:
        yield server
    finally:
        server.shutdown(1)


def test_beyond_max_connections_a_clean_503(small: HttpServer) -> None:
    """Issue 19 concurrent connections limit: the 9th connection gets 503 + close; after they close, 200."""
    held = open_connections(small.port, 8, b'GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')
    for sock in held:
        assert sock.recv(4096).startswith(b'HTTP/1.1 200 ')
    until(lambda: small.open_connections == 8, timeout=5)
    answer = exchange(small.port, b'GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')
    assert statuses(answer) == [503] and 'Connection: close' in head_of(answer)
    assert connection_threads('small-conn-') == 8
    for sock in held:
        sock.close()
    until(lambda: small.open_connections == 0, timeout=5)
    assert statuses(exchange(small.port, b'GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')) == [200]


def send_chunked_until_answered(port: int, chunk: bytes, most: int) -> bytes:
    """Send a chunked body chunk by chunk until the server answers (or `most` bytes went out)."""
    with socket.create_connection(('127.0.0.1', port), timeout=20) as sock:
        sock.sendall(b'POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
        sent = 0
        try:
            while sent < most:
                sock.sendall(b'%x\r\n%s\r\n' % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:  # the server answered and closed
            pass
        return read_to_close(sock)


def test_eight_parallel_chunked_bodies_over_the_limit_are_413_without_memory_growth(small: HttpServer) -> None:
    """Issue 19 memory: 8 parallel chunked bodies past the 4 MiB limit → 413 each; spooled, RSS stays flat."""
    rss = rss_bytes()
    peak = [rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            peak[0] = max(peak[0], rss_bytes())
    sampler = threading.Thread(target=sample, name='rss-sampler')
    sampler.start()
    try:
        with ThreadPoolExecutor(8, thread_name_prefix='chunked-client') as pool:
            answers = list(pool.map(lambda _: send_chunked_until_answered(small.port, b'z' * 65536, 6 * MIB),
                                    range(8)))
    finally:
        stop.set()
        sampler.join()
    assert all(statuses(a) == [413] and b'Connection: close' in a for a in answers), [a[:60] for a in answers]
    assert peak[0] - rss < 24 * MIB, f'RSS grew by {(peak[0] - rss) / MIB:.0f} MiB'
    until(lambda: small.open_connections == 0 and small.lingering == 0, timeout=5)


def test_a_413_does_not_drain_the_body(small: HttpServer) -> None:
    """Issue 19: after a 413 the server stops reading: a client pushing 160 MiB cannot get it all in."""
    answer = send_chunked_until_answered(small.port, b'q' * 65536, 160 * MIB)
    assert statuses(answer) == [413]
    until(lambda: small.lingering == 0, timeout=5)


def test_chunked_body_within_the_limit_reaches_the_app_whole(small: HttpServer) -> None:
    """Issue 19 chunked bodies parsed with the limit enforced as they arrive: 3 MiB spooled and delivered."""
    body = bytes(range(256)) * (3 * 4096)
    raw = b'POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
    raw += b''.join(b'%x\r\n%s\r\n' % (65536, body[i:i + 65536]) for i in range(0, len(body), 65536)) + b'0\r\n\r\n'
    answer = exchange(small.port, raw)
    assert statuses(answer) == [200] and answer.endswith(str(len(body)).encode())
