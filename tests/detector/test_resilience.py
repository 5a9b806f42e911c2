"""Field resilience: a refused Loop login, cap drops, unreadable outbox items and a bad model job never take a
thread down (review findings, each reproduced against the real node or outbox)."""
from __future__ import annotations

from pathlib import Path

import requests

from loopnode.devloop import DevLoop
from loopnode.errors import LoopLoginError
from tests.detector.conftest import StartNode
from tests.detector.test_outbox_loop import jpeg, make_outbox, meta, running, save_auto, sources
from tests.helpers import until


def test_login_error_is_a_request_failure() -> None:
    """Every `except requests.RequestException` around a Loop call also covers a refused login."""
    assert issubclass(LoopLoginError, requests.RequestException)


def test_refused_login_keeps_every_thread_alive(tmp_path: Path, start_node: StartNode) -> None:
    """With wrong credentials (strict devloop answers 401 to the login) status, poll and PUT /model_version fail
    cleanly: /healthz stays 200 over several cycles and the PUT answers 400 with the cause."""
    loop = DevLoop(tmp_path / 'loop', auth='strict', users='admin:admin')
    loop.start(port=0)
    try:
        node = start_node(loop_url=loop.url, LOOP_USERNAME='admin', LOOP_PASSWORD='wrong',
                          LOOP_POLL_INTERVAL='0.1', SYNC_CYCLES='1', VERSION_CONTROL_DEFAULT='follow_loop')
        until(lambda: sum(1 for r in requests.get(f'{loop.url}/admin/requests?limit=200', timeout=5).json()
                          ['requests'] if r['path'] == '/api/login') >= 5, 10, message='several login attempts')
        assert requests.get(node.url + '/healthz', timeout=5).json() == {'status': 'ok'}
        answer = requests.put(node.url + '/model_version', data='7.7', timeout=10)
        assert answer.status_code == 400
        assert answer.json()['error'].startswith('Failed to load models from learning loop: LoopLoginError')
        assert requests.get(node.url + '/healthz', timeout=5).json() == {'status': 'ok'}
    finally:
        loop.stop()


def test_cap_drops_forget_their_ids(tmp_path: Path, devloop: DevLoop) -> None:
    """Items dropped by MAX_OUTBOX_SIZE leave no bookkeeping behind (a robot offline for days kept growing)."""
    outbox = make_outbox(tmp_path / 'data', devloop.url, max_size=5)
    outbox.set_mode('stopped')
    with running(outbox):
        save_auto(outbox, 40)  # autoupload items: explicit uploads are never dropped by the cap
        assert outbox.status_dict()['dropped_cap'] == 35
        assert len(outbox.uploader._own) <= 5


def test_unreadable_item_does_not_block_the_queue(tmp_path: Path, devloop: DevLoop) -> None:
    """F12's guarantee for an item that cannot be read (a folder where its jpg should be): the items behind it
    upload; it waits for the incomplete-item grace and goes to rejected/."""
    outbox = make_outbox(tmp_path / 'data', devloop.url, incomplete_grace=0.5)
    outbox.set_mode('stopped')
    with running(outbox):
        outbox.save(jpeg(1), meta('good-1'), wait=True)
        bad = next((tmp_path / 'data' / 'outbox' / 'normal').iterdir())
        jpg = next(bad.glob('*.jpg'))
        jpg.unlink()
        jpg.mkdir()
        outbox.save(jpeg(2), meta('good-2'), wait=True)
        outbox.set_mode('continuous_upload')
        until(lambda: sources(devloop) == ['good-2'], 15)
        until(lambda: any((tmp_path / 'data' / 'outbox' / 'rejected').iterdir()), 15)
