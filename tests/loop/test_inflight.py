"""InFlight: which of LoopHttp's connections in use a shutdown cuts (real sockets on loopback that never answer)."""
from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import requests

from loopnode.loop.http import LoopHttp
from loopnode.loop.inflight import PLAIN, UPLOAD
from loopnode.settings import Settings
from tests.helpers import until


def call_in_thread(target: Any) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)
    thread = threading.Thread(target=run, name='caller')
    thread.start()
    return thread, errors


def test_uploads_and_a_thread_s_session_are_cut_plain_calls_of_others_are_not(
        tmp_path: Path, silent_loop: tuple[str, list[socket.socket]]) -> None:
    """abort_transfers cuts an upload stuck on a silent Loop; a plain GET only goes with abort_session_of."""
    url, _ = silent_loop
    http = LoopHttp(Settings.from_env({'LOOP_HOST': url, 'DATA_FOLDER': str(tmp_path), 'LOOP_ORGANIZATION': 'o',
                                     'LOOP_PROJECT': 'p'}, node_type='detector'))
    upload, upload_errors = call_in_thread(lambda: http.upload('POST', '/up', [('a.json', b'{}')]))
    plain, plain_errors = call_in_thread(lambda: http.get('/status'))
    until(lambda: http.in_flight.count(UPLOAD) == 1 and http.in_flight.count(PLAIN) == 1, 5)
    http.abort_transfers()
    upload.join(5)
    assert not upload.is_alive() and isinstance(upload_errors[0], requests.ConnectionError)
    assert plain.is_alive() and http.in_flight.count(PLAIN) == 1  # a plain call is left to its timeout
    http.in_flight.abort_session_of(plain)
    plain.join(5)
    assert not plain.is_alive() and isinstance(plain_errors[0], requests.ConnectionError)
    assert http.in_flight.count() == 0
    http.close()
