"""LoopSocket.stop: one timeout for everything, and prompt while an attempt waits on a Loop that does not answer.

The Loop here is a real devloop whose fault rules hold `GET /api/status` or the Socket.IO handshake for a
minute, or a real listening socket that accepts and never answers. The probe's own timeout (5 s) and the
handshake's (20 s) are far longer than the 3 s a stop is given to finish.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Any

import requests

from loopnode.devloop import DevLoop
from tests.helpers import until
from tests.loop.test_socket import Harness, annotators, harness_factory  # noqa: F401 - the fixture

PROMPT = 3.0  # s a stop may take here; every wait it must cut is 5 s or longer


def hold(devloop: DevLoop, path: str) -> None:
    """Make devloop hold every request to `path` for a minute (it lets go when devloop stops)."""
    response = requests.post(f'{devloop.url}/admin/faults', json={'match': {'path': path}, 'latency_ms': 60_000},
                             timeout=5)
    assert response.status_code in (200, 201), response.text


def held(devloop: DevLoop, path: str) -> bool:
    """A request to `path` has arrived and its fault is holding it."""
    entries = requests.get(f'{devloop.url}/admin/requests', timeout=5).json()['requests']
    return any(e['path'].rstrip('/') == path and e['fault'] is not None for e in entries)


def stopped_promptly(h: Harness) -> bool:
    """Stop the socket from another thread; True when stop() returned within PROMPT s and nothing is left."""
    done = threading.Event()
    closer = threading.Thread(target=lambda: (h.socket.stop(), done.set()), name='closer')
    closer.start()
    prompt = done.wait(PROMPT)
    closer.join()
    return prompt and not h.socket.alive and h.socket.stragglers() == []


def test_stop_during_a_status_probe_the_loop_holds(devloop: DevLoop, harness_factory: Any) -> None:
    hold(devloop, '/api/status')
    h = harness_factory(devloop.url)
    h.socket.start()
    until(lambda: held(devloop, '/api/status'))
    assert stopped_promptly(h)
    assert h.socket.connections == 0


def test_stop_during_a_socketio_handshake_the_loop_holds(devloop: DevLoop, harness_factory: Any) -> None:
    hold(devloop, '/ws/socket.io')
    h = harness_factory(devloop.url)
    h.socket.start()
    until(lambda: held(devloop, '/ws/socket.io'))
    assert stopped_promptly(h)
    assert h.socket.connections == 0


def test_stop_during_a_probe_of_a_socket_that_never_answers(silent_loop: tuple[str, list[socket.socket]],
                                                            harness_factory: Any) -> None:
    url, accepted = silent_loop
    h = harness_factory(url)
    h.socket.start()
    until(lambda: accepted)
    assert stopped_promptly(h)


def test_stop_waits_one_timeout_for_a_stuck_connection_thread_and_a_stuck_handler(
        devloop: DevLoop, harness_factory: Any) -> None:
    """The connection thread (held in an attempt that ignores the stop) and an event handler (blocked) share
    stop's timeout: stop(3) returns after about 3 s, not 6, and names both as stragglers (wide margins for a
    loaded machine)."""
    release = threading.Event()
    attempts = []

    def on_attempt() -> None:
        attempts.append(1)
        if len(attempts) > 1:
            release.wait(30)  # a second attempt hangs, as a call without any timeout would
    h = harness_factory(devloop.url, on_attempt=on_attempt, base_delay=0.01, max_delay=0.01)
    h.socket.on('user_logout', lambda _sid: release.wait(30))
    h.socket.start()
    until(lambda: h.socket.connected)
    (node,) = annotators(devloop.url)
    emitter = threading.Thread(target=lambda: requests.post(
        f'{devloop.url}/admin/nodes/{node["sid"]}/emit', json={'event': 'user_logout', 'args': ['u']}, timeout=30),
        name='emitter')
    emitter.start()
    until(lambda: any(name.startswith('loop-event-') for name in h.socket.stragglers()))
    requests.post(f'{devloop.url}/admin/nodes/{node["sid"]}/disconnect', timeout=5)
    until(lambda: len(attempts) > 1)
    started = time.monotonic()
    h.socket.stop(timeout=3.0)
    elapsed = time.monotonic() - started
    try:
        assert 2.9 <= elapsed < 5.5, elapsed
        assert {'loop-socket', 'loop-event-user_logout'} <= set(h.socket.stragglers())
    finally:
        release.set()
        emitter.join(30)
    until(lambda: not h.socket.stragglers())
