"""HttpServer: underscore headers over real TCP, graceful drain, no thread left behind."""
from __future__ import annotations

import http.client
import threading
import time

from flask import Flask, jsonify, request

from loopnode.service.server import HttpServer
from tests.helpers import until


def make_app(release: threading.Event, entered: threading.Event | None = None) -> Flask:
    app = Flask(__name__)

    @app.get('/headers')
    def headers() -> object:
        return jsonify({'camera_id': request.headers.get('camera_id'), 'camera-id': request.headers.get('camera-id'),
                        'creation_date': request.headers.get('creation_date')})

    @app.get('/wait')
    def wait() -> object:
        if entered is not None:
            entered.set()
        release.wait(10)
        return jsonify({'done': True})
    return app


def test_underscore_headers_survive_a_real_tcp_connection() -> None:
    """F1 (server part): werkzeug drops `camera_id`; our handler keeps it and both spellings are one lookup."""
    server = HttpServer(make_app(threading.Event()), '127.0.0.1', 0)
    server.start()
    try:
        conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=5)
        conn.request('GET', '/headers', headers={'camera_id': 'cam1', 'creation_date': '2025-01-01T00:00:00'})
        body = conn.getresponse().read()
        assert b'"camera_id":"cam1"' in body and b'"camera-id":"cam1"' in body and b'2025-01-01T00:00:00' in body
        conn.request('GET', '/headers', headers={'camera-id': 'cam2', 'camera_id': 'cam1'})
        assert b'"camera_id":"cam1"' in conn.getresponse().read()  # the underscore spelling wins
        conn.close()
    finally:
        server.shutdown(1)


def test_shutdown_waits_for_the_request_in_flight_and_closes_idle_connections() -> None:
    release, entered = threading.Event(), threading.Event()
    server = HttpServer(make_app(release, entered), '127.0.0.1', 0)
    server.start()
    idle = http.client.HTTPConnection('127.0.0.1', server.port, timeout=5)
    idle.request('GET', '/headers')
    idle.getresponse().read()  # keep-alive connection stays open and idle
    result: dict[str, object] = {}

    def slow_call() -> None:
        conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=10)
        conn.request('GET', '/wait')
        result['status'] = conn.getresponse().status
        conn.close()
    caller = threading.Thread(target=slow_call)
    caller.start()
    until(entered.is_set, 5)  # in_flight alone may still count the idle connection's finishing request
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    assert server.shutdown(grace=5) is True
    caller.join(5)
    assert result['status'] == 200 and time.monotonic() - started < 5
    assert not server.is_alive()
    idle.close()


def test_shutdown_gives_up_after_the_grace_period() -> None:
    release = threading.Event()
    server = HttpServer(make_app(release), '127.0.0.1', 0)
    server.start()
    caller = threading.Thread(target=lambda: _get_quietly(server.port))
    caller.start()
    until(lambda: server.in_flight == 1, 5)
    assert server.shutdown(grace=0.3) is False
    release.set()
    caller.join(5)


def _get_quietly(port: int) -> None:
    try:
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
        conn.request('GET', '/wait')
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        pass


def test_port_in_use_raises() -> None:
    server = HttpServer(make_app(threading.Event()), '127.0.0.1', 0)
    try:
        try:
            HttpServer(make_app(threading.Event()), '127.0.0.1', server.port)
        except OSError as e:
            assert 'cannot listen' in str(e)
        else:
            raise AssertionError('second bind succeeded')
    finally:
        server.shutdown(0)
