"""Bad input and Loop faults for the annotator: every malformed event fails alone, the node keeps going."""
from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from loopnode.annotator import AnnotatorNode
from loopnode.annotator.frontends import FrontendWorkers
from loopnode.devloop import DevLoop
from loopnode.errors import NodeNeedsRestartError
from tests.annotator.conftest import FAST_SOCKET, annotator_settings, send
from tests.annotator.logics import RecordingLogic
from tests.helpers import free_port, until


def good_input(devloop: DevLoop) -> dict[str, Any]:
    return {'frontend_id': 'f1', 'data': {
        'coordinate': {'x': 1, 'y': 2}, 'event_type': 'left_mouse_down',
        'context': {'organization': 'zauberzeug', 'project': 'demo'},
        'image_uuid': devloop.store.image_ids('zauberzeug', 'demo')[0], 'category': {'id': 'c', 'name': 'c'}}}


def send_raw(devloop: DevLoop, user_input: Any) -> dict[str, Any]:
    return send(devloop, {'user_input': user_input})


def broken(devloop: DevLoop, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = copy.deepcopy(good_input(devloop))
    change(body)
    return body


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    'missing data': (lambda b: b.pop('data'), 'data'),
    'missing coordinate': (lambda b: b['data'].pop('coordinate'), 'coordinate'),
    'missing context': (lambda b: b['data'].pop('context'), 'context'),
    'coordinate is a string': (lambda b: b['data']['coordinate'].update(x='12'), 'coordinate.x'),
    'coordinate is a bool': (lambda b: b['data']['coordinate'].update(y=True), 'coordinate.y'),
    'unknown event type': (lambda b: b['data'].update(event_type='double_click'), 'event_type'),
    'category without id': (lambda b: b['data']['category'].pop('id'), 'category'),
    'image uuid is a number': (lambda b: b['data'].update(image_uuid=7), 'image_uuid'),
    'unknown image uuid': (lambda b: b['data'].update(image_uuid='no-such-image'), 'could not download image no-such-image'),
    'image uuid with a slash': (lambda b: b['data'].update(image_uuid='../x'), 'could not download image ../x'),
}


@pytest.mark.parametrize('case', list(CASES))
def test_malformed_user_input_fails_alone(case: str, annotator: AnnotatorNode, devloop: DevLoop) -> None:
    """A malformed UserInput gets a failure ack naming the problem; the next good event of that frontend works."""
    change, named = CASES[case]
    ack = send_raw(devloop, broken(devloop, change))
    assert ack['success'] is False and named in ack['error_msg'], ack
    assert ack['payload'] is None
    assert send_raw(devloop, good_input(devloop))['success'] is True


@pytest.mark.parametrize('args', [[], ['a', 'b'], ['not an object'], [{'data': {}}]])
def test_wrong_arguments_fail_at_once(args: list[Any], annotator: AnnotatorNode, devloop: DevLoop) -> None:
    sid = requests.get(f'{devloop.url}/admin/annotators', timeout=5).json()['connected'][0]['sid']
    response = requests.post(f'{devloop.url}/admin/nodes/{sid}/emit',
                             json={'event': 'handle_user_input', 'args': args}, timeout=10)
    ack = response.json()['ack']
    assert ack['success'] is False and 'UserInput' in ack['error_msg']
    assert send_raw(devloop, good_input(devloop))['success'] is True


def test_float_coordinates_are_rounded(annotator: AnnotatorNode, devloop: DevLoop) -> None:
    body = broken(devloop, lambda b: b['data'].update(coordinate={'x': 10.6, 'y': 2.2}))
    assert send_raw(devloop, body)['payload'] == '<circle cx="11" cy="2" r="1"/>'


def test_idle_frontend_workers_end(make_annotator: Callable[..., AnnotatorNode], devloop: DevLoop) -> None:
    node = make_annotator(idle_timeout=0.2)
    send(devloop, {'frontend_id': 'f1'})
    send(devloop, {'frontend_id': 'f2'})
    until(lambda: node.frontends.active() == [])
    assert send(devloop, {'frontend_id': 'f1'})['payload'] == '<circle cx="10" cy="10" r="2"/>'  # history kept


def test_frontend_workers_keep_order_and_end_on_request() -> None:
    workers = FrontendWorkers(idle_timeout=5)
    seen: list[int] = []
    try:
        for i in range(20):
            workers.submit('a', lambda i=i: seen.append(i))
        workers.end('a')
        until(lambda: workers.active() == [] and len(seen) == 20)
        assert seen == list(range(20))
    finally:
        workers.stop()
    with pytest.raises(RuntimeError):
        workers.submit('a', lambda: None)


def test_loop_restarted_mid_session(tmp_path: Path) -> None:
    """Loop down at start and restarted mid-session: the annotator keeps running and serves again."""
    port = free_port()
    node = AnnotatorNode(RecordingLogic(), settings=annotator_settings(tmp_path, f'http://127.0.0.1:{port}'),
                         socket_options=FAST_SOCKET)
    node.start()
    loop = DevLoop(tmp_path / 'devloop')
    try:
        until(lambda: node.loop_socket.state()['attempts'] >= 2)
        assert requests.get(f'{node.url}/healthz', timeout=5).json() == {'status': 'ok'}
        loop.start(port=port)
        until(node.loop_connected)
        until(lambda: requests.get(f'{loop.url}/admin/annotators', timeout=5).json()['connected'])
        assert send_raw(loop, good_input(loop))['success'] is True
        loop.stop()
        until(lambda: not node.loop_connected())
        loop.start(port=port)
        until(lambda: requests.get(f'{loop.url}/admin/annotators', timeout=5).json()['connected'])
        assert send_raw(loop, good_input(loop))['success'] is True
        assert requests.get(f'{node.url}/status', timeout=5).json()['loop']['connected'] is True
    finally:
        node.stop()
        loop.stop()


class SlowLogic(RecordingLogic):
    """Takes 0.5 s per event, so a shutdown can start while one is in flight."""

    def handle_user_input(self, user_input: Any, history: Any) -> Any:
        output = super().handle_user_input(user_input, history)
        threading.Event().wait(0.5)  # simulated work
        return output


def test_an_event_in_flight_at_shutdown_is_still_acked(make_annotator: Callable[..., AnnotatorNode],
                                                       devloop: DevLoop) -> None:
    """Shutdown order (loop-protocol.md §10.3): the frontend workers finish before the Loop socket closes."""
    logic = SlowLogic()
    node = make_annotator(logic)
    acks: list[Any] = []
    sender = threading.Thread(target=lambda: acks.append(send_raw(devloop, good_input(devloop))), name='sender')
    sender.start()
    until(lambda: logic.seen)
    node.stop()
    sender.join(10)
    assert acks and acks[0]['success'] is True


class GpuGoneLogic(RecordingLogic):
    def handle_user_input(self, user_input: Any, history: Any) -> Any:
        raise NodeNeedsRestartError('GPU is gone')


def test_logic_needing_a_restart_fails_the_event_and_exits_75(make_annotator: Callable[..., AnnotatorNode],
                                                              devloop: DevLoop) -> None:
    node = make_annotator(GpuGoneLogic())
    ack = send_raw(devloop, good_input(devloop))
    assert ack == {'success': False, 'error_msg': 'GPU is gone', 'payload': None}
    until(node.shutdown_requested.is_set)
    assert node.exit_code == 75
