"""LoopSocket: ack wrapper and reconnect policy (pure), and the real client against devloop over loopback."""
from __future__ import annotations

import logging
import random
import statistics
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from loopnode.data import SocketResponse
from loopnode.devloop import DevLoop
from loopnode.loop.http import LoopHttp
from loopnode.loop.reconnect import ReconnectPolicy
from loopnode.loop.socket import LoopSocket, LoopSocketError
from loopnode.loop.socket_acks import INVALID_RETURN, ack_for_result, ack_ok, run_handler
from loopnode.settings import Settings
from tests.helpers import free_port, until

STATUS = {'id': 'u1', 'name': 'n', 'state': 'online', 'uptime': 1, 'errors': {}, 'capabilities': []}


# ---- ack wrapper (pure) ----------------------------------------------------------------------------------

def test_ack_for_every_handler_outcome() -> None:
    assert ack_for_result('<svg/>') == [{'success': True, 'error_msg': None, 'payload': '<svg/>'}]
    assert ack_for_result(False) == [{'success': False, 'error_msg': None, 'payload': None}]
    assert ack_for_result(True) == [{'success': True, 'error_msg': None, 'payload': None}]
    assert ack_for_result(None) == []
    assert ack_for_result(SocketResponse.for_failure('busy', 'refused')) == [
        {'success': False, 'error_msg': 'busy', 'payload': 'refused'}]
    assert ack_for_result(42) == [{'success': False, 'error_msg': INVALID_RETURN, 'payload': None}]


def test_a_raising_handler_and_wrong_arguments_become_failure_acks() -> None:
    def boom(_x: Any) -> str:
        raise ValueError('x')
    assert run_handler('e', boom, (1,)) == [{'success': False, 'error_msg': 'x', 'payload': None}]
    assert run_handler('e', boom, ())[0]['success'] is False
    assert 'wrong arguments' in run_handler('e', lambda: 'a', (1, 2))[0]['error_msg']
    assert run_handler('e', lambda a, b: a + b, ('a', 'b'))[0]['payload'] == 'ab'


def test_ack_ok_needs_a_dict_with_truthy_success() -> None:
    assert ack_ok({'success': True}) and not ack_ok({'success': False}) and not ack_ok(None) and not ack_ok('ok')


# ---- reconnect policy (pure, clock injected) -------------------------------------------------------------

class FixedRandom(random.Random):
    """uniform(a, b) → b: the upper bound of every jittered wait."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_backoff_doubles_from_1_to_60_seconds() -> None:
    policy = ReconnectPolicy(rng=FixedRandom())
    assert [policy.attempt_failed() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_waits_are_full_jitter_within_bounds() -> None:
    policy = ReconnectPolicy(rng=random.Random(7))
    for attempt in range(1, 40):
        wait = policy.attempt_failed()
        assert 0.0 <= wait <= min(60.0, 2 ** (attempt - 1))
    waits = [ReconnectPolicy(rng=random.Random(i)).attempt_failed() for i in range(200)]
    assert min(waits) < 0.1 and max(waits) > 0.9  # spread over [0, 1], not a fixed value


def test_backoff_resets_only_after_a_connection_that_held() -> None:
    policy = ReconnectPolicy(hold=10.0, rng=FixedRandom())
    clock = 100.0
    for _ in range(4):
        policy.attempt_failed()
    policy.connected(clock)
    assert policy.lost(clock + 2.0) == 16  # dropped at once: keep backing off
    policy.connected(clock + 20.0)
    assert policy.lost(clock + 35.0) == 1  # held 15 s: start over


def test_fifty_nodes_losing_the_loop_at_once_spread_their_first_retry() -> None:
    """50 annotators lose the Loop together: their first retries spread over the first backoff window."""
    firsts = []
    for seed in range(50):
        policy = ReconnectPolicy(rng=random.Random(seed))
        policy.connected(0.0)
        firsts.append(policy.lost(60.0))
    assert all(0 <= w <= 1.0 for w in firsts)
    assert max(firsts) - min(firsts) > 0.8 and statistics.pstdev(firsts) > 0.2
    assert len({round(w, 3) for w in firsts}) > 45


# ---- against devloop -------------------------------------------------------------------------------------

def node_settings(tmp_path: Path, url: str, **env: str) -> Settings:
    values = {'LOOP_HOST': url, 'DATA_FOLDER': str(tmp_path / 'node'), 'LOOP_ORGANIZATION': 'zauberzeug',
              'LOOP_PROJECT': 'demo', **env}
    return Settings.from_env(values, node_type='annotator')


class Harness:
    """A LoopSocket with its LoopHttp and stop event, stopped and closed by the fixture."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.stop = threading.Event()
        self.http = LoopHttp(settings, self.stop)
        self.socket = LoopSocket(settings, self.http, node_type='annotation_node', stop=self.stop, **options)

    def close(self) -> None:
        self.stop.set()
        self.socket.stop()
        self.http.close()


@pytest.fixture
def harness_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[Harness] = []

    def make(url: str, *, env: dict[str, str] | None = None, **options: Any) -> Harness:
        h = Harness(node_settings(tmp_path, url, **(env or {})), **options)
        made.append(h)
        return h
    yield make
    for h in made:
        h.close()


def annotators(url: str) -> list[dict[str, Any]]:
    return [n for n in requests.get(f'{url}/admin/nodes', timeout=5).json()['nodes']
            if n['node_type'] == 'annotation_node']


def emit(url: str, sid: str, event: str, *args: Any) -> Any:
    response = requests.post(f'{url}/admin/nodes/{sid}/emit', json={'event': event, 'args': list(args)}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()['ack']


def test_connects_with_headers_and_calls_with_acks(devloop: DevLoop, harness_factory: Any) -> None:
    h = harness_factory(devloop.url)
    h.socket.on('user_logout', lambda sid: sid == 'known')
    h.socket.start()
    until(lambda: h.socket.connected)
    assert h.socket.call('update_annotation_node', STATUS, timeout=5)['success'] is True
    (node,) = annotators(devloop.url)
    assert node['headers'] == {'organization': 'zauberzeug', 'project': 'demo', 'nodeType': 'annotation_node'}
    assert node['uuid'] == 'u1'
    assert emit(devloop.url, node['sid'], 'user_logout', 'known') == {'success': True, 'error_msg': None,
                                                                   'payload': None}
    assert emit(devloop.url, node['sid'], 'user_logout', 'other')['success'] is False
    state = h.socket.state()
    assert state['connected'] is True and state['since'] and state['last_ok'] and state['attempts'] == 1


def test_a_handler_exception_becomes_a_failure_ack(devloop: DevLoop, harness_factory: Any) -> None:
    h = harness_factory(devloop.url)

    def fails(sid: str) -> bool:
        raise RuntimeError(f'cannot log out {sid}')
    h.socket.on('user_logout', fails)
    h.socket.start()
    until(lambda: h.socket.connected)
    sid = until(lambda: annotators(devloop.url))[0]['sid']
    assert emit(devloop.url, sid, 'user_logout', 'f1') == {'success': False, 'error_msg': 'cannot log out f1',
                                                        'payload': None}
    assert emit(devloop.url, sid, 'user_logout')['success'] is False  # wrong argument count
    assert emit(devloop.url, sid, 'begin_training', 'a', 'b', {})['error_msg'] == 'unknown event begin_training'
    assert h.socket.connected


def test_bad_ack_marks_broken_and_reconnects(devloop: DevLoop, harness_factory: Any) -> None:
    """A status ack of {"success": false} makes the node reconnect within the backoff bounds."""
    h = harness_factory(devloop.url, base_delay=0.05, max_delay=0.2)
    h.socket.start()
    until(lambda: h.socket.connected)
    requests.post(f'{devloop.url}/admin/socket_faults',
                  json={'event': 'update_annotation_node', 'ack': {'success': False}, 'times': 1}, timeout=5)
    with pytest.raises(LoopSocketError, match='bad ack'):
        h.socket.call('update_annotation_node', STATUS, timeout=5)
    until(lambda: h.socket.state()['connections'] == 2 and h.socket.connected)
    assert 'bad ack' in h.socket.state()['last_error']
    assert h.socket.call('update_annotation_node', STATUS, timeout=5)['success']


def test_call_timeout_marks_broken(devloop: DevLoop, harness_factory: Any) -> None:
    h = harness_factory(devloop.url, base_delay=0.05, max_delay=0.2)
    h.socket.start()
    until(lambda: h.socket.connected)
    requests.post(f'{devloop.url}/admin/socket_faults',
                  json={'event': 'update_annotation_node', 'delay_ms': 1500, 'times': 1}, timeout=5)
    with pytest.raises(LoopSocketError, match='no ack within 0.3 s'):
        h.socket.call('update_annotation_node', STATUS, timeout=0.3)
    until(lambda: h.socket.state()['connections'] == 2 and h.socket.connected)


def test_not_connected_call_raises_at_once(tmp_path: Path, harness_factory: Any) -> None:
    h = harness_factory(f'http://127.0.0.1:{free_port()}')
    with pytest.raises(LoopSocketError, match='not connected'):
        h.socket.call('update_annotation_node', STATUS, timeout=5)


def test_loop_down_at_start_then_restarted_on_the_same_port(tmp_path: Path, harness_factory: Any) -> None:
    """Loop down at start, then up; then stopped and restarted on the same port: the socket reconnects."""
    port = free_port()
    h = harness_factory(f'http://127.0.0.1:{port}', base_delay=0.05, max_delay=0.3)
    h.socket.start()
    until(lambda: h.socket.state()['attempts'] >= 3)
    assert not h.socket.connected and 'connect to' in h.socket.state()['last_error']
    loop = DevLoop(tmp_path / 'devloop')
    loop.start(port=port)
    try:
        until(lambda: h.socket.connected)
        loop.stop()
        until(lambda: not h.socket.connected)
        loop.start(port=port)
        until(lambda: h.socket.connected and annotators(loop.url))
        assert h.socket.state()['connections'] == 2
        assert h.socket.call('update_annotation_node', STATUS, timeout=5)['success']
    finally:
        loop.stop()


def test_never_two_connections_of_one_node(devloop: DevLoop, harness_factory: Any) -> None:
    """Dropped sockets and broken links: devloop never sees two connections of the node at the same time."""
    h = harness_factory(devloop.url, base_delay=0.02, max_delay=0.05)
    h.socket.start()
    seen: list[int] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            seen.append(len(devloop._hub.nodes()))  # type: ignore[union-attr]
            sampling.wait(0.005)
    sampler = threading.Thread(target=sample, name='sampler')
    sampler.start()
    try:
        for round_ in range(1, 4):
            until(lambda: h.socket.connected and annotators(devloop.url))
            sid = annotators(devloop.url)[0]['sid']
            requests.post(f'{devloop.url}/admin/nodes/{sid}/disconnect', timeout=5)
            until(lambda: h.socket.state()['connections'] == round_ + 1)
        requests.post(f'{devloop.url}/admin/socket_faults',
                      json={'event': 'update_annotation_node', 'ack': {'success': False}, 'times': 1}, timeout=5)
        until(lambda: h.socket.connected)
        with pytest.raises(LoopSocketError):
            h.socket.call('update_annotation_node', STATUS, timeout=5)
        until(lambda: h.socket.state()['connections'] == 5 and h.socket.connected)
    finally:
        sampling.set()
        sampler.join()
    assert max(seen) == 1 and len(seen) > 10


def test_pause_and_resume(devloop: DevLoop, harness_factory: Any) -> None:
    h = harness_factory(devloop.url)
    h.socket.start()
    until(lambda: h.socket.connected)
    h.socket.pause()
    until(lambda: not h.socket.connected and not annotators(devloop.url))
    h.socket.resume()
    until(lambda: h.socket.connected and annotators(devloop.url))


def test_login_before_connect_in_login_mode(tmp_path: Path, harness_factory: Any) -> None:
    loop = DevLoop(tmp_path / 'devloop', auth='login')
    loop.start()
    try:
        h = harness_factory(loop.url, env={'LOOP_USERNAME': 'u', 'LOOP_PASSWORD': 'p'})
        h.socket.start()
        until(lambda: h.socket.connected)
        assert annotators(loop.url)[0]['user'] == 'u'
    finally:
        loop.stop()


def test_stop_is_immediate_while_waiting_for_the_loop(tmp_path: Path, harness_factory: Any) -> None:
    h = harness_factory(f'http://127.0.0.1:{free_port()}', base_delay=60.0, max_delay=60.0)
    h.socket.start()
    until(lambda: h.socket.state()['attempts'] >= 1 and h.socket.state()['last_error'])
    stopped = threading.Event()
    closer = threading.Thread(target=lambda: (h.socket.stop(), stopped.set()), name='closer')
    closer.start()
    assert stopped.wait(10.0)  # immediate: far less than the 60 s backoff, also on a loaded machine
    closer.join()
    assert not h.socket.alive


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_fifty_real_sockets_losing_devloop_spread_their_first_retry(tmp_path: Path) -> None:
    """50 LoopSockets connected to one devloop lose it at once: their first retries (real threads, real
    backoff of 1 s) are spread over the first second, not in lockstep."""
    import time
    port = free_port()
    loop = DevLoop(tmp_path / 'devloop')
    loop.start(port=port)
    sockets: list[Harness] = []
    retries: dict[int, float] = {}
    lost_at: list[float] = []

    def hook(i: int) -> Any:
        def on_attempt() -> None:
            if lost_at and i not in retries:
                retries[i] = time.monotonic() - lost_at[0]
        return on_attempt
    try:
        for i in range(50):
            h = Harness(node_settings(tmp_path / f'n{i}', f'http://127.0.0.1:{port}'), on_attempt=hook(i), hold=0.0)
            sockets.append(h)
            h.socket.start()
        until(lambda: all(h.socket.connected for h in sockets), 60)
        lost_at.append(time.monotonic())
        loop.stop()
        until(lambda: len(retries) == 50, 30)
    finally:
        for h in sockets:
            h.close()
        loop.stop()
    waits = sorted(retries.values())
    spread = waits[-1] - waits[0]
    logging.getLogger(__name__).warning(f'first retry after the loss: min {waits[0]:.3f} s, median {statistics.median(waits):.3f} s, '
          f'max {waits[-1]:.3f} s, spread {spread:.3f} s, stdev {statistics.pstdev(waits):.3f} s')
    assert spread > 0.5 and statistics.pstdev(waits) > 0.15
    assert waits[-1] < 1.0 + 1.0  # the jittered first wait is at most 1 s (+ the time to notice the loss)
