"""devloop Socket.IO (loop-protocol.md §6, §11.3, §11.5, §11.6) with a real `socketio.Client` test node."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import socketio

from loopnode.devloop import DevLoop
from tests.helpers import until

OK = {'success': True, 'error_msg': None, 'payload': None}
TRAINER_STATUS = {'id': 'trainer-uuid-1', 'name': 'test trainer', 'state': 'idle', 'uptime': None, 'errors': {},
                  'progress': None, 'pretrained_models': [], 'architecture': 'mocked', 'context': None}


@contextmanager
def node(url: str, node_type: str = 'trainer', handlers: dict[str, Any] | None = None,
         http_session: requests.Session | None = None, transports: list[str] | None = None) -> Iterator[socketio.Client]:
    client = socketio.Client(reconnection=False, request_timeout=5, handle_sigint=False,
                             http_session=http_session)
    for event, handler in (handlers or {}).items():
        client.on(event, handler)
    client.connect(url, socketio_path='/ws/socket.io', wait_timeout=5, transports=transports,
                   headers={'organization': 'zauberzeug', 'project': 'demo', 'nodeType': node_type})
    try:
        yield client
    finally:
        client.disconnect()
        client.shutdown() if hasattr(client, 'shutdown') else None


def admin(loop: DevLoop, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, loop.url + '/admin' + path, timeout=kwargs.pop('timeout', 15), **kwargs)


@pytest.mark.timeout(90)
@pytest.mark.parametrize('transports', [None, ['polling']])
def test_connect_is_fast_and_node_is_listed(loop: DevLoop, transports: list[str] | None) -> None:
    """§11.3: CONNECT accepted well under 1 s (polling and WebSocket); headers and uuid show in /admin/nodes."""
    started = time.monotonic()
    with node(loop.url, transports=transports) as client:
        assert time.monotonic() - started < 3.0  # well under 1 s idle; the client's own start-up on a loaded machine
        assert client.call('update_trainer', TRAINER_STATUS, timeout=5) == OK
        nodes = admin(loop, 'GET', '/nodes').json()['nodes']
        assert len(nodes) == 1
        info = nodes[0]
        assert info['sid'] == client.get_sid('/') or info['sid']
        assert info['node_type'] == 'trainer' and info['organization'] == 'zauberzeug' and info['project'] == 'demo'
        assert info['uuid'] == 'trainer-uuid-1' and info['name'] == 'test trainer'
        assert info['last_status']['state'] == 'idle'
    # python-socketio's polling client can lose its CLOSE packet (its write loop may exit on the state change
    # before sending it); the server then notices at the ping timeout (25 + 20 s)
    until(lambda: admin(loop, 'GET', '/nodes').json()['nodes'] == [], timeout=15 if transports is None else 50)


def test_status_events_are_acked_and_recorded(loop: DevLoop) -> None:
    """§11.3: update_trainer/training/annotation_node/segmentation_annotation get SocketResponse acks and are kept."""
    with node(loop.url) as trainer:
        assert trainer.call('update_trainer', TRAINER_STATUS, timeout=5) == OK
        out = {'trainer_id': 'trainer-uuid-1', 'trainer_name': 't', 'confusion_matrix': {}, 'train_image_count': 3,
               'test_image_count': 1, 'hyperparameters': {}, 'best_epoch': 2}
        assert trainer.call('update_training', ('zauberzeug', 'demo', out), timeout=5) == OK
        bad = trainer.call('update_training', ('zauberzeug', 'demo'), timeout=5)
        assert bad['success'] is False and bad['error_msg']
    with node(loop.url, 'annotation_node') as annotator:
        status = {'id': 'ann-1', 'name': 'annotator', 'state': 'online', 'uptime': 5, 'errors': {},
                  'capabilities': ['segmentation']}
        assert annotator.call('update_annotation_node', status, timeout=5) == OK
        annotation = {'id': 'a1', 'shape': {'points': [{'x': 1, 'y': 2}]}, 'image_id': 'img', 'category_id': 'c'}
        assert annotator.call('update_segmentation_annotation', ('zauberzeug', 'demo', annotation), timeout=5) == OK
    statuses = admin(loop, 'GET', '/statuses').json()
    assert statuses['trainers'][0]['uuid'] == 'trainer-uuid-1'
    assert statuses['annotators'][0]['latest']['payload']['capabilities'] == ['segmentation']
    updates = admin(loop, 'GET', '/trainings').json()['updates']
    assert updates[0]['payload']['payload']['best_epoch'] == 2 and updates[0]['organization'] == 'zauberzeug'
    annotations = admin(loop, 'GET', '/received/annotations').json()['annotations']
    assert annotations[0]['key'] == 'img'


def test_admin_emit_returns_the_ack(loop: DevLoop) -> None:
    """§11.5: emit → node handler → ack returned to the admin caller; by sid and by uuid; timeout → 504."""
    received: list[tuple[Any, ...]] = []

    def begin_training(org: str, project: str, details: dict[str, Any]) -> dict[str, Any]:
        received.append((org, project, details))
        return {'success': True, 'error_msg': None, 'payload': None}

    def user_logout(sid: str) -> dict[str, Any]:
        return {'success': sid == 'f1'}
    release = threading.Event()
    handlers = {'begin_training': begin_training, 'user_logout': user_logout, 'stop_training': lambda: OK,
                'abort_training': lambda: None, 'handle_user_input': lambda data: release.wait(5)}
    with node(loop.url, handlers=handlers) as client:
        client.call('update_trainer', TRAINER_STATUS, timeout=5)
        sid = admin(loop, 'GET', '/nodes').json()['nodes'][0]['sid']
        answer = admin(loop, 'POST', f'/nodes/{sid}/emit', json={'event': 'user_logout', 'args': ['f1']}).json()
        assert answer['ack'] == {'success': True}
        started = admin(loop, 'POST', '/trainers/trainer-uuid-1/begin_training', json={'hyperparameters': {'epochs': 1}})
        assert started.status_code == 200 and started.json()['ack']['success'] is True
        org, project, details = received[0]
        assert (org, project) == ('zauberzeug', 'demo')
        assert details['training_number'] == 2 and len(details['categories']) == 4
        assert details['hyperparameters'] == {'epochs': 1} and details['model_variant'] == ''
        assert admin(loop, 'POST', '/trainers/trainer-uuid-1/stop_training').json()['ack'] == OK
        assert admin(loop, 'POST', '/trainers/trainer-uuid-1/abort_training').json()['ack'] is None
        late = admin(loop, 'POST', f'/nodes/{sid}/emit', json={'event': 'handle_user_input', 'args': [{}],
                                                               'timeout': 0.3})
        release.set()
        assert late.status_code == 504
        assert admin(loop, 'POST', f'/nodes/{sid}/emit', json={'event': 'bogus'}).status_code == 422
        assert admin(loop, 'POST', '/trainers/nobody/begin_training', json={}).status_code == 404
    trainings = admin(loop, 'GET', '/trainings').json()['trainings']
    assert [t['number'] for t in trainings] == [1, 2]


def test_admin_disconnect_drops_the_node(loop: DevLoop) -> None:
    """§11.5: POST /admin/nodes/{uuid}/disconnect drops the Socket.IO connection."""
    with node(loop.url) as client:
        client.call('update_trainer', TRAINER_STATUS, timeout=5)
        assert admin(loop, 'POST', '/nodes/trainer-uuid-1/disconnect').status_code == 200
        until(lambda: not client.connected, timeout=15)
    # the server forgets the node in its disconnect handler, which may run a moment after the client noticed
    until(lambda: admin(loop, 'POST', '/nodes/trainer-uuid-1/disconnect').status_code == 404, timeout=15)


def test_socket_faults_bad_late_ack_and_drop(loop: DevLoop) -> None:
    """§11.6: bad ack once, late ack, dropped connection on an event; each fires `times` and is logged."""
    bad = {'success': False, 'error_msg': 'injected', 'payload': None}
    admin(loop, 'POST', '/socket_faults', json={'event': 'update_trainer', 'ack': bad, 'times': 1})
    admin(loop, 'POST', '/socket_faults', json={'event': 'update_annotation_node', 'delay_ms': 400, 'times': 1})
    with node(loop.url) as client:
        assert client.call('update_trainer', TRAINER_STATUS, timeout=5) == bad
        assert client.call('update_trainer', TRAINER_STATUS, timeout=5) == OK
        started = time.monotonic()
        assert client.call('update_annotation_node', {'id': 'x'}, timeout=5) == OK
        assert time.monotonic() - started >= 0.4
        admin(loop, 'POST', '/socket_faults', json={'event': 'update_trainer', 'disconnect': True})
        client.emit('update_trainer', TRAINER_STATUS)
        until(lambda: not client.connected, timeout=15)
    rules = admin(loop, 'GET', '/socket_faults').json()['socket_faults']
    assert [r['fired'] for r in rules] == [1, 1, 1]
    log = admin(loop, 'GET', '/requests').json()['requests']
    assert sum(1 for e in log if str(e['fault']).startswith('socket:')) == 3
    assert admin(loop, 'DELETE', '/socket_faults').status_code == 200
    assert admin(loop, 'POST', '/socket_faults', json={'ack': 1}).status_code == 422


def test_refused_connect(loop: DevLoop) -> None:
    """§11.6: refuse_connect rejects the CONNECT `times` times, then nodes get in again."""
    admin(loop, 'POST', '/socket_faults', json={'refuse_connect': True, 'times': 2})
    for _ in range(2):
        with pytest.raises(socketio.exceptions.ConnectionError):
            with node(loop.url):
                pass
    with node(loop.url) as client:
        assert client.connected


def test_login_mode_socket_needs_cookie(tmp_path: Path) -> None:
    """§11.1: in login mode the Socket.IO CONNECT needs the login cookie."""
    loop = DevLoop(tmp_path / 'login', auth='login')
    loop.start()
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            with node(loop.url):
                pass
        session = requests.Session()
        session.post(loop.url + '/api/login', data={'username': 'u', 'password': 'p'}, timeout=5).raise_for_status()
        with node(loop.url, http_session=session) as client:
            assert client.call('update_trainer', TRAINER_STATUS, timeout=5) == OK
            assert admin(loop, 'GET', '/nodes').json()['nodes'][0]['user'] == 'u'
    finally:
        loop.stop()


def test_stop_with_connected_node_joins(tmp_path: Path) -> None:
    """DevLoop.stop() disconnects connected nodes and returns promptly."""
    loop = DevLoop(tmp_path / 'stop', seed='empty')
    loop.start()
    client = socketio.Client(reconnection=False, handle_sigint=False)
    client.connect(loop.url, socketio_path='/ws/socket.io', wait_timeout=5,
                   headers={'organization': '', 'project': '', 'nodeType': 'converter'})
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 5
    until(lambda: not client.connected, timeout=15)
    client.disconnect()
