"""Annotator acceptance checklist A1-A12 (annotator-converter.md §A8), against devloop over loopback."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from loopnode.annotator import AnnotatorNode, MockAnnotatorLogic
from loopnode.data import AnnotationData
from loopnode.devloop import DevLoop
from tests.annotator.conftest import image_requests, send
from tests.annotator.logics import RecordingLogic
from tests.helpers import free_port, until

REPO = Path(__file__).resolve().parents[2]


def first_image(devloop: DevLoop) -> str:
    return devloop.store.image_ids('zauberzeug', 'demo')[0]


def images_folder(node: AnnotatorNode) -> Path:
    return node.settings.data_folder / 'zauberzeug' / 'demo' / 'images'


def test_a1_left_mouse_down_caches_exactly_one_image(annotator: AnnotatorNode, devloop: DevLoop) -> None:
    """A1: after a connect, a left_mouse_down for a devloop image leaves exactly one file in the images folder."""
    image = first_image(devloop)
    ack = send(devloop, {'event_type': 'left_mouse_down', 'x': 5, 'y': 6, 'image_uuid': image})
    assert ack == {'success': True, 'error_msg': None, 'payload': '<circle cx="5" cy="6" r="1"/>'}
    assert [p.name for p in images_folder(annotator).iterdir()] == [f'{image}.jpg']
    assert annotator.image_path({'organization': 'zauberzeug', 'project': 'demo'}, image).is_file()


def test_a2_annotation_data_json_round_trip() -> None:
    """A2: AnnotationData survives a JSON round trip unchanged."""
    wire = {'coordinate': {'x': 3, 'y': 4}, 'event_type': 'mouse_move',
            'context': {'organization': 'o', 'project': 'p'}, 'image_uuid': 'i',
            'category': {'id': 'c', 'name': 'n', 'description': None, 'hotkey': None, 'color': '#ff0000',
                         'point_size': None, 'type': 'segmentation'},
            'key_up': None, 'key_down': 'Enter', 'epsilon': 0.5, 'is_shift_key_pressed': True}
    data = AnnotationData.from_dict(json.loads(json.dumps(wire)))
    assert data.to_dict() == wire
    assert AnnotationData.from_dict(json.loads(json.dumps(data.to_dict()))) == data


def test_a3_escape_resets_without_downloading(annotator: AnnotatorNode, devloop: DevLoop) -> None:
    """A3: key_up Escape → payload "", history reset, no image request reaches devloop."""
    image = first_image(devloop)
    send(devloop, {'frontend_id': 'f1', 'event_type': 'mouse_move', 'image_uuid': image})
    assert annotator.history('f1') == {'count': 1}
    other = devloop.store.image_ids('zauberzeug', 'demo')[1]
    ack = send(devloop, {'frontend_id': 'f1', 'event_type': 'key_up', 'key_up': 'Escape', 'image_uuid': other})
    assert ack['success'] is True and ack['payload'] == ''
    assert annotator.history('f1') == {'count': 0}
    assert image_requests(devloop, other) == []


def test_a4_logic_error_fails_the_ack_and_resets_the_history(annotator: AnnotatorNode, devloop: DevLoop) -> None:
    """A4: ValueError("x") → {"success": false, "error_msg": "x"}; the next event sees an empty history."""
    logic: RecordingLogic = annotator.logic  # type: ignore[assignment]
    send(devloop, {'frontend_id': 'f1'})
    ack = send(devloop, {'frontend_id': 'f1', 'key_down': 'raise'})
    assert ack == {'success': False, 'error_msg': 'x', 'payload': None}
    assert send(devloop, {'frontend_id': 'f1'})['success'] is True
    assert [count for _, _, _, count in logic.seen] == [0, 1, 0]


def test_a5_annotation_with_numpy_points_is_sent_as_plain_ints(annotator: AnnotatorNode, devloop: DevLoop) -> None:
    """A5: numpy int (and float) points reach devloop as plain ints via update_segmentation_annotation, then the ack."""
    image = first_image(devloop)
    ack = send(devloop, {'frontend_id': 'f1', 'key_down': 'annotate', 'image_uuid': image})
    assert ack['payload'] == '<path d="M 1 2 L 4 4"/>'
    received = requests.get(f'{devloop.url}/admin/annotators/annotations', timeout=5).json()['annotations']
    assert len(received) == 1  # already there when the ack came back
    entry = received[0]
    assert entry['organization'] == 'zauberzeug' and entry['project'] == 'demo'
    payload = entry['payload']['payload']
    assert payload['shape'] == {'points': [{'x': 1, 'y': 2}, {'x': 4, 'y': 4}]}
    assert payload['image_id'] == image and entry['payload']['problem'] is None


def test_a6_user_logout(annotator: AnnotatorNode, devloop: DevLoop) -> None:
    """A6: user_logout("f1") calls logout_user("f1"), acks its return value and drops the history of f1."""
    logic: RecordingLogic = annotator.logic  # type: ignore[assignment]
    send(devloop, {'frontend_id': 'f1'})
    assert annotator.history('f1') is not None
    response = requests.post(f'{devloop.url}/admin/annotators/any/user_logout', json={'sid': 'f1'}, timeout=10)
    assert response.json()['ack'] == {'success': True, 'error_msg': None, 'payload': None}
    assert logic.logged_out == ['f1'] and annotator.history('f1') is None
    response = requests.post(f'{devloop.url}/admin/annotators/any/user_logout', json={'sid': 'unknown'}, timeout=10)
    assert response.json()['ack']['success'] is False  # the logic's return value


def test_a7_status_every_cycle_and_bad_ack_reconnects(annotator: AnnotatorNode, devloop: DevLoop) -> None:
    """A7: update_annotation_node every cycle with capabilities and growing uptime; a {"success": false} ack reconnects."""
    def history() -> list[dict[str, Any]]:
        statuses = requests.get(f'{devloop.url}/admin/annotators', timeout=5).json()['statuses']
        return statuses[0]['history'] if statuses else []
    annotator.started_at -= 5  # uptime is whole seconds; start it "earlier" instead of waiting
    first = until(lambda: history())[-1]
    annotator.started_at -= 3
    until(lambda: history()[-1]['uptime'] >= first['uptime'] + 3)
    assert history()[-1]['capabilities'] == ['segmentation', 'recording'] and history()[-1]['id'] == annotator.uuid
    requests.post(f'{devloop.url}/admin/socket_faults',
                  json={'event': 'update_annotation_node', 'ack': {'success': False}, 'times': 1}, timeout=5)
    until(lambda: annotator.loop_socket.state()['connections'] == 2 and annotator.loop_connected())
    assert 'bad ack' in annotator.loop_socket.state()['last_error']


def test_a8_burst_of_one_frontend_in_order_while_another_is_served(annotator: AnnotatorNode,
                                                                 devloop: DevLoop) -> None:
    """A8: 50 mouse_move events of one frontend sent in a burst are handled in order; a second frontend is served
    meanwhile (f1's first event waits until f2 was handled)."""
    logic: RecordingLogic = annotator.logic  # type: ignore[assignment]
    sid = requests.get(f'{devloop.url}/admin/annotators', timeout=5).json()['connected'][0]['sid']
    image = first_image(devloop)
    acks: list[Any] = []
    done = threading.Event()

    def on_ack(*ack: Any) -> None:
        acks.append(ack[0])
        if len(acks) == 50:
            done.set()

    def user_input(frontend: str, x: int, key_down: str | None = None) -> dict[str, Any]:
        return {'frontend_id': frontend, 'data': {
            'coordinate': {'x': x, 'y': 0}, 'event_type': 'mouse_move', 'image_uuid': image,
            'context': {'organization': 'zauberzeug', 'project': 'demo'},
            'category': {'id': 'c', 'name': 'c'}, 'key_down': key_down}}
    server = devloop._hub.socketio.server  # type: ignore[union-attr]
    for x in range(50):
        server.emit('handle_user_input', data=(user_input('f1', x, 'wait:f2' if x == 0 else None),), to=sid,
                    namespace='/', callback=on_ack)
    ack_f2 = send(devloop, {'frontend_id': 'f2', 'x': 999, 'image_uuid': image})
    assert ack_f2['success'] is True
    assert done.wait(20)
    assert all(a['success'] for a in acks), acks[:3]
    assert [x for frontend, x, _, _ in logic.seen if frontend == 'f1'] == list(range(50))
    assert [count for frontend, _, _, count in logic.seen if frontend == 'f1'] == list(range(50))


def test_a9_two_simultaneous_events_download_the_image_once(annotator: AnnotatorNode, devloop: DevLoop) -> None:
    """A9: two simultaneous events (two frontends) for one uncached image cause one download."""
    image = first_image(devloop)
    requests.post(f'{devloop.url}/admin/faults', json={
        'match': {'method': 'GET', 'path': f'/api/*/projects/*/images/{image}/main'}, 'latency_ms': 300},
        timeout=5)
    acks: dict[str, Any] = {}
    threads = [threading.Thread(target=lambda f=f: acks.update({f: send(devloop, {'frontend_id': f,
                                                                                 'image_uuid': image})}),
                                name=f'sender-{f}') for f in ('f1', 'f2')]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert acks['f1']['success'] and acks['f2']['success']
    assert len(image_requests(devloop, image)) == 1
    assert annotator.images.downloads == 1


def test_a10_mock_logic_boxes_are_independent_per_frontend(make_annotator: Callable[..., AnnotatorNode],
                                                           devloop: DevLoop) -> None:
    """A10: with the mock logic two frontends drawing at the same time get independent rectangles."""
    make_annotator(MockAnnotatorLogic())
    image = first_image(devloop)

    def event(frontend: str, kind: str, x: int, y: int) -> str:
        return send(devloop, {'frontend_id': frontend, 'event_type': kind, 'x': x, 'y': y, 'image_uuid': image})['payload']
    assert event('f1', 'left_mouse_down', 10, 10) == '<rect x="10" y="10" width="1" height="1" fill="blue"/>'
    event('f2', 'left_mouse_down', 100, 100)
    assert event('f1', 'mouse_move', 20, 30) == '<rect x="10" y="10" width="10" height="20" fill="blue"/>'
    assert event('f2', 'mouse_move', 90, 150) == '<rect x="90" y="100" width="10" height="50" fill="blue"/>'
    assert event('f1', 'left_mouse_up', 20, 30) == ''
    assert event('f2', 'mouse_move', 100, 100) == '<rect x="100" y="100" width="1" height="1" fill="blue"/>'
    assert event('f1', 'key_down', 0, 0) == 'some_svg_response_from_node'


def test_a11_corrupt_jpeg_fails_and_is_not_kept(annotator: AnnotatorNode, devloop: DevLoop) -> None:
    """A11: devloop serving a corrupt JPEG → failure ack, no file kept in the cache."""
    image = first_image(devloop)
    jpeg = devloop.store.image_path(image).read_bytes()
    requests.post(f'{devloop.url}/admin/faults', json={
        'match': {'method': 'GET', 'path': f'/api/*/projects/*/images/{image}/main'}, 'status': 200,
        'body_base64': base64.b64encode(jpeg[:300]).decode(), 'content_type': 'image/jpeg', 'times': 1}, timeout=5)
    ack = send(devloop, {'frontend_id': 'f1', 'image_uuid': image})
    assert ack['success'] is False and ack['error_msg'].startswith(f'could not download image {image}: ')
    folder = images_folder(annotator)
    assert not folder.exists() or list(folder.iterdir()) == []
    assert send(devloop, {'frontend_id': 'f1', 'image_uuid': image})['success'] is True  # served intact now
    assert [p.name for p in folder.iterdir()] == [f'{image}.jpg']


@pytest.mark.timeout(60)
def test_a12_restart_exits_75(tmp_path: Path, devloop: DevLoop) -> None:
    """A12: `restart` → `loopnode annotator` (mock logic, real subprocess) exits with code 75."""
    env = dict(os.environ, DATA_FOLDER=str(tmp_path / 'node'), NODE_PORT=str(free_port()), LOOP_HOST=devloop.url,
               LOOP_POLL_INTERVAL='0.2', PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, '-m', 'loopnode', 'annotator', '--logic',
                             'loopnode.annotator:MockAnnotatorLogic'], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        until(lambda: requests.get(f'{devloop.url}/admin/annotators', timeout=5).json()['statuses'], 30)
        ack = send(devloop, {'frontend_id': 'f1'})
        assert ack['payload'] == '<rect x="10" y="10" width="1" height="1" fill="blue"/>'
        response = requests.post(f'{devloop.url}/admin/nodes/'
                                 f'{requests.get(f"{devloop.url}/admin/nodes").json()["nodes"][0]["sid"]}/emit',
                                 json={'event': 'restart', 'args': []}, timeout=10)
        assert response.status_code in (200, 502)
        assert proc.wait(20) == 75
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = proc.stdout.read().decode() if proc.stdout else ''
    assert 'Traceback' not in output
