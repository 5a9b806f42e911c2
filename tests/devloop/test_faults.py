"""Fault injection (loop-protocol.md §11.6): pure rule matching and HTTP faults against a real devloop."""
from __future__ import annotations

import random
import time

import pytest
import requests

from loopnode.devloop import DevLoop
from loopnode.devloop.faults import FaultSpecError, HttpFault, RuleBook, SocketFault, path_matches
from tests.devloop.conftest import DEMO
from tests.devloop.test_rest import image_parts


def test_path_matching() -> None:
    assert path_matches('/api/*/projects/*/images', '/api/zauberzeug/projects/demo/images')
    assert not path_matches('/api/*/projects/*/images', '/api/zauberzeug/projects/demo/images/x/main')
    assert path_matches('/api/**', '/api/zauberzeug/projects/demo/images/x/main')
    assert path_matches('/api/**/main', '/api/a/projects/b/images/x/main')
    assert path_matches('/api/*/projects/*/models/*/*/file', '/api/a/projects/b/models/u/mocked/file')
    assert not path_matches('/api/status', '/api/statusx')


def test_rule_book_order_times_probability() -> None:
    book: RuleBook[HttpFault] = RuleBook(rng=random.Random(1))
    first = book.add(HttpFault.from_dict({'match': {'method': 'POST', 'path': '/a'}, 'status': 429, 'times': 2}))
    book.add(HttpFault.from_dict({'match': {'path': '/a'}, 'status': 500}))
    fired = [book.fire(lambda r: r.matches('POST', '/a')) for _ in range(3)]
    assert [r.status for r in fired if r] == [429, 429, 500]
    assert book.fire(lambda r: r.matches('GET', '/a')).status == 500
    assert book.remove(first) and not book.remove(first)
    never = RuleBook(rng=random.Random(1))
    never.add(HttpFault.from_dict({'status': 500, 'probability': 0.0}))
    assert never.fire(lambda r: True) is None
    for bad in ({'status': 'x'}, {'status': 99}, {}, {'status': 500, 'times': 0}, {'status': 500, 'probability': 2},
                {'match': {'method': 3}, 'status': 500}, [1]):
        with pytest.raises(FaultSpecError):
            HttpFault.from_dict(bad)
    with pytest.raises(FaultSpecError):
        SocketFault.from_dict({'event': 'x', 'refuse_connect': True})
    assert SocketFault.from_dict({'refuse_connect': True, 'times': 3}).times == 3


def test_status_fault_with_retry_after_fires_times_then_stops(loop: DevLoop) -> None:
    """§11.6: 429 with Retry-After twice on POST P/images, then the real answer; visible in /admin/requests."""
    rule = {'match': {'method': 'POST', 'path': '/api/*/projects/*/images'}, 'status': 429, 'retry_after': 3,
            'times': 2}
    rule_id = requests.post(loop.url + '/admin/faults', json=rule, timeout=5).json()['id']
    answers = [requests.post(loop.url + DEMO + '/images', files=image_parts(1), timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers['Retry-After'] == '3' and 'detail' in answers[0].json()
    assert requests.get(loop.url + DEMO + '/data', timeout=5).status_code == 200  # other paths untouched
    listed = requests.get(loop.url + '/admin/faults', timeout=5).json()['faults']
    assert listed[0]['id'] == rule_id and listed[0]['fired'] == 2 and listed[0]['remaining'] == 0
    log = requests.get(loop.url + '/admin/requests', timeout=5).json()['requests']
    assert [e['status'] for e in log if e['fault'] == rule_id] == [429, 429]


def test_custom_body_latency_and_delete(loop: DevLoop) -> None:
    """§11.6: `body` replaces the answer, `latency_ms` delays it; DELETE removes rules."""
    requests.post(loop.url + '/admin/faults', json={'match': {'method': 'GET', 'path': '/api/status'},
                                                     'status': 503, 'body': {'detail': 'maintenance'}}, timeout=5)
    slow = requests.post(loop.url + '/admin/faults', json={'match': {'path': DEMO + '/data'}, 'latency_ms': 300},
                         timeout=5).json()['id']
    response = requests.get(loop.url + '/api/status', timeout=5)
    assert response.status_code == 503 and response.json() == {'detail': 'maintenance'}
    started = time.monotonic()
    assert requests.get(loop.url + DEMO + '/data', timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert requests.delete(loop.url + f'/admin/faults/{slow}', timeout=5).status_code == 200
    assert requests.delete(loop.url + f'/admin/faults/{slow}', timeout=5).status_code == 404
    assert requests.delete(loop.url + '/admin/faults', timeout=5).status_code == 200
    assert requests.get(loop.url + '/api/status', timeout=5).status_code == 200
    assert requests.post(loop.url + '/admin/faults', json={'status': 'x'}, timeout=5).status_code == 422


def test_drop_connection(loop: DevLoop) -> None:
    """§11.6: drop_connection closes the socket without an answer; the server keeps serving."""
    requests.post(loop.url + '/admin/faults', json={'match': {'path': '/api/*/projects/*/deployment/target'},
                                                     'drop_connection': True, 'times': 1}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(loop.url + DEMO + '/deployment/target', timeout=5)
    assert requests.get(loop.url + DEMO + '/deployment/target', timeout=5).status_code == 200
    log = requests.get(loop.url + '/admin/requests', timeout=5).json()['requests']
    assert any(e['status'] == 'dropped' for e in log)


def test_reset_restores_seed_and_clears_faults(loop: DevLoop) -> None:
    """§11.5 reset: drops received data and fault rules, restores the demo seed."""
    requests.post(loop.url + DEMO + '/images', files=image_parts(1), timeout=10).raise_for_status()
    requests.post(loop.url + '/admin/faults', json={'status': 500, 'match': {'path': '/api/projects'}}, timeout=5)
    assert requests.post(loop.url + '/admin/reset', timeout=30).status_code == 200
    assert requests.get(loop.url + '/admin/faults', timeout=5).json() == {'faults': []}
    assert len(requests.get(loop.url + DEMO + '/data', timeout=5).json()['image_ids']) == 10
    assert requests.get(loop.url + '/admin/received/images', timeout=5).json() == {'images': []}
