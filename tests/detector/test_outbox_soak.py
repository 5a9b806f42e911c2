"""Issue 18 soak: a detector under mixed traffic while the Loop cycles through 500 / 429 / unreachable / slow
windows with normal windows between. Shortened from the issue's 30 s windows and 10 minutes; same shape.

`test_outbox_soak` (slow, `make test-slow`): 10 s windows, two cycles (≈ 3 min). `test_outbox_soak_short`
(normal suite): 2.5 s windows, one cycle (≈ 25 s). Both check: no acknowledged explicit upload lost or
duplicated; every autoupload item delivered once or counted as dropped; the first upload after each outage
within LOOP_POLL_INTERVAL + 1 s; Retry-After honoured; threads, fds and RSS flat. Figures are logged
(`-o log_cli=true --log-cli-level=INFO`) and go to docs/outbox.md.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import requests
import socketio

from loopnode.detector.node import DetectorNode
from loopnode.devloop import DevLoop
from tests.detector.conftest import StartNode, jpeg_bytes
from tests.detector.test_outbox_loop import IMAGES_PATH, clear_faults, received
from tests.fixtures_devloop import devloop  # noqa: F401 - fixture
from tests.helpers import until

log = logging.getLogger(__name__)

SIO_PATH = '/ws/socket.io'
POLL = 1.0          # LOOP_POLL_INTERVAL of the node under test
RETRY_AFTER = 2     # the 429 window's Retry-After
CYCLE = ('normal', '500', 'normal', '429', 'unreachable', 'normal', 'slow', 'normal')
OUTAGES = ('500', 'unreachable')  # after these, the first upload must come within POLL + 1 s


def fault_rules(kind: str) -> list[dict[str, Any]]:
    upload = {'method': 'POST', 'path': IMAGES_PATH}
    return {'normal': [],
            '500': [{'match': upload, 'status': 500}],
            '429': [{'match': upload, 'status': 429, 'retry_after': RETRY_AFTER}],
            'unreachable': [{'match': {'path': '/api/**'}, 'drop_connection': True}],
            'slow': [{'match': {'path': '/api/**'}, 'latency_ms': 5000}]}[kind]


def resources() -> dict[str, float]:
    with open('/proc/self/status') as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))
    return {'threads': threading.active_count(), 'fds': len(os.listdir('/proc/self/fd')), 'rss_mb': rss / 1024}


@dataclass
class Traffic:
    """The client side: what was sent and acknowledged, per source name."""

    stop: threading.Event = field(default_factory=threading.Event)
    auto_acked: collections.Counter[str] = field(default_factory=collections.Counter)  # source → images
    explicit_acked: set[str] = field(default_factory=set)
    explicit_refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, name: str, period: float, step: Callable[[int], None]) -> None:
        def body() -> None:
            n = 0
            while not self.stop.wait(period):
                n += 1
                try:
                    step(n)
                except Exception as e:  # noqa: BLE001 - counted, the soak goes on
                    with self.lock:
                        self.errors.append(f'{name}: {type(e).__name__}: {e}')
        thread = threading.Thread(target=body, name=f'soak-{name}')
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def run_soak(node: DetectorNode, loop: DevLoop, window: float, cycles: int, explicit_period: float) -> dict[str, Any]:
    traffic = Traffic()
    image = jpeg_bytes()
    image_dict = {'format': 'jpeg', 'bytes': image}
    rest = requests.Session()
    sio_detect = socketio.Client(reconnection=False)
    sio_batch_client = socketio.Client(reconnection=False)
    sio_upload = socketio.Client(reconnection=False)
    clients = (sio_detect, sio_batch_client, sio_upload)
    for client in clients:
        client.connect(node.url, socketio_path=SIO_PATH, wait_timeout=10)

    def ack_auto(source: str, count: int) -> None:
        with traffic.lock:
            traffic.auto_acked[source] += count

    def rest_detect(n: int) -> None:
        r = rest.post(node.url + '/detect', params={'autoupload': 'all', 'source': f'rest-{n}'},
                      files={'file': ('i.jpg', image, 'image/jpeg')}, timeout=30)
        if r.status_code == 200:
            ack_auto(f'rest-{n}', 1)

    def sio_detect_step(n: int) -> None:
        answer = sio_detect.call('detect', {'image': image_dict, 'autoupload': 'all', 'source': f'sio-{n}'}, timeout=30)
        if 'error' not in answer:
            ack_auto(f'sio-{n}', 1)

    def sio_batch(n: int) -> None:
        answer = sio_batch_client.call('batch_detect', {'images': [image_dict, image_dict], 'autoupload': 'all',
                                                  'source': f'batch-{n}'}, timeout=30)
        if 'error' not in answer:
            ack_auto(f'batch-{n}', 2)

    def explicit(source: str, ok: bool) -> None:
        with traffic.lock:
            (traffic.explicit_acked.add(source) if ok else traffic.explicit_refused.append(source))

    def rest_upload(n: int) -> None:
        r = rest.post(node.url + '/upload', params={'source': f'up-rest-{n}'},
                      files=[('files', ('u.jpg', image, 'image/jpeg'))], timeout=60)
        explicit(f'up-rest-{n}', r.status_code == 200)

    def sio_upload_step(n: int) -> None:
        answer = sio_upload.call('upload', {'image': image_dict, 'upload_priority': n % 4 == 0,
                                            'metadata': {'source': f'up-sio-{n}'}}, timeout=60)
        explicit(f'up-sio-{n}', answer == {'status': 'OK'})

    start_resources = resources()
    traffic.start('rest-detect', 0.1, rest_detect)
    traffic.start('sio-detect', 0.2, sio_detect_step)
    traffic.start('sio-batch', 0.5, sio_batch)
    traffic.start('rest-upload', explicit_period, rest_upload)
    traffic.start('sio-upload', explicit_period, sio_upload_step)

    outbox = node.outbox
    resume: list[tuple[str, float]] = []
    rate_limited: list[int] = []
    samples: list[dict[str, float]] = []
    peak_backlog = 0
    previous = 'normal'
    waiter = threading.Event()
    started = time.monotonic()
    try:
        for cycle in range(cycles):
            for kind in CYCLE:
                window_end = time.monotonic() + window
                clear_faults(loop)
                if previous in OUTAGES or previous == '429':
                    before = outbox.counters.get('uploaded')
                    t0 = time.monotonic()
                    until(lambda: outbox.counters.get('uploaded') > before, timeout=window + 30,
                          interval=0.01, message=f'first upload after the {previous} window')
                    resume.append((previous, time.monotonic() - t0))
                ids = [requests.post(loop.url + '/admin/faults', json=rule, timeout=10).json()['id']
                       for rule in fault_rules(kind)]
                if kind == 'normal':
                    samples.append(resources())
                while (left := window_end - time.monotonic()) > 0:
                    peak_backlog = max(peak_backlog, sum(outbox.index.class_counts().values()))
                    waiter.wait(min(0.25, left))  # the window's schedule, not a wait for a condition
                if kind == '429':
                    rules = requests.get(loop.url + '/admin/faults', timeout=10).json()['faults']
                    rate_limited.append(sum(r['fired'] for r in rules if r['id'] in ids))
                previous = kind
        clear_faults(loop)
    finally:
        traffic.join()
        for client in clients:
            client.disconnect()
        rest.close()
    traffic_seconds = time.monotonic() - started
    drain_started = time.monotonic()
    until(lambda: sum(outbox.index.class_counts().values()) == 0 and outbox.saver.pending() == 0, timeout=120,
          message='outbox drained')
    drain_seconds = time.monotonic() - drain_started
    waiter.wait(2 * POLL)  # let thread counts settle (finished request threads) before the last sample
    end_resources = resources()
    return {'traffic': traffic, 'resume': resume, 'rate_limited': rate_limited, 'samples': samples,
            'start': start_resources, 'end': end_resources, 'peak_backlog': peak_backlog,
            'traffic_seconds': traffic_seconds, 'drain_seconds': drain_seconds,
            'status': outbox.status_dict()}


def check_soak(result: dict[str, Any], loop: DevLoop, window: float) -> None:
    traffic: Traffic = result['traffic']
    got = collections.Counter()
    for item in received(loop):
        meta = item['metadata']
        got[(json.loads(meta) if isinstance(meta, str) else meta).get('source')] += 1
    status = result['status']
    explicit_got = {s: n for s, n in got.items() if s and s.startswith('up-')}
    auto_got = sum(n for s, n in got.items() if s and not s.startswith('up-'))
    auto_sent = sum(traffic.auto_acked.values())
    dropped = status['dropped_cap'] + status['dropped_busy'] + status['skipped_unencodable']
    log.info('soak figures: %s', json.dumps({
        'traffic_s': round(result['traffic_seconds']), 'drain_s': round(result['drain_seconds'], 1),
        'autoupload_sent': auto_sent, 'autoupload_delivered': auto_got, 'dropped_cap': status['dropped_cap'],
        'dropped_busy': status['dropped_busy'], 'explicit_acked': len(traffic.explicit_acked),
        'explicit_refused': len(traffic.explicit_refused), 'explicit_delivered': sum(explicit_got.values()),
        'resume_s': [(k, round(s, 2)) for k, s in result['resume']], 'rate_limited_attempts': result['rate_limited'],
        'peak_backlog': result['peak_backlog'], 'failed_attempts': status['failed_attempts'],
        'start': result['start'], 'samples': result['samples'], 'end': result['end'],
        'client_errors': traffic.errors[:5]}))
    # explicit uploads: every acknowledged one delivered exactly once, nothing unacknowledged delivered
    assert traffic.explicit_acked and not traffic.explicit_refused
    assert set(explicit_got) == traffic.explicit_acked
    assert all(n == 1 for n in explicit_got.values())
    # autoupload: delivered at most once each, and delivered + dropped == sent
    assert all(got[s] <= n for s, n in traffic.auto_acked.items())
    assert auto_got + dropped == auto_sent
    assert status['dropped_cap'] > 0  # the cap was exercised
    # resume: the first upload after each outage within LOOP_POLL_INTERVAL + 1 s; after 429 within Retry-After + that
    for kind, seconds in result['resume']:
        bound = POLL + 1 + (RETRY_AFTER if kind == '429' else 0)
        assert seconds <= bound, (kind, seconds)
    # Retry-After honoured: at most one attempt per Retry-After during the 429 window (plus the first)
    for attempts in result['rate_limited']:
        assert 1 <= attempts <= window / RETRY_AFTER + 2
    # threads, fds, RSS flat
    start, end = result['start'], result['end']
    assert end['threads'] <= start['threads'] + 3
    assert end['fds'] <= start['fds'] + 10
    assert end['rss_mb'] <= start['rss_mb'] + 60
    assert not traffic.errors


def soak_node(start_node: StartNode, loop: DevLoop, max_size: int) -> DetectorNode:
    return start_node(loop_url=loop.url, LOOP_POLL_INTERVAL=str(POLL), SYNC_CYCLES='1',
                      MAX_OUTBOX_SIZE=str(max_size))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_outbox_soak(start_node: StartNode, devloop: DevLoop) -> None:
    """Issue 18 soak (slow): 10 s windows, two cycles of normal/500/normal/429/unreachable/normal/slow/normal."""
    node = soak_node(start_node, devloop, max_size=100)
    result = run_soak(node, devloop, window=10.0, cycles=2, explicit_period=2.0)
    check_soak(result, devloop, 10.0)


@pytest.mark.timeout(120)
def test_outbox_soak_short(start_node: StartNode, devloop: DevLoop) -> None:
    """Issue 18 soak, short variant for the normal suite: 2.5 s windows, one cycle, explicit uploads every 0.5 s."""
    node = soak_node(start_node, devloop, max_size=20)
    result = run_soak(node, devloop, window=2.5, cycles=1, explicit_period=0.5)
    check_soak(result, devloop, 2.5)
