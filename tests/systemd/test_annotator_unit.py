"""The annotator unit as systemd runs it: the installed `loopnode annotator` with the template's values under a
fake NOTIFY_SOCKET sends READY=1, WATCHDOG=1 and STOPPING=1, exits 0 on SIGTERM and 75 on the Loop's `restart`."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from loopnode.devloop import DEMO_ORG, DEMO_PROJECT, DevLoop
from tests.fixtures_devloop import devloop  # noqa: F401 - shared fixture
from tests.helpers import free_port, until
from tests.systemd.test_units import _stop, exec_start, notify_socket, received, template, unit_environment  # noqa: F401

MOCK_LOGIC = 'loopnode.annotator:MockAnnotatorLogic'


def annotator_environment(tmp_path: Path, loop_url: str, notify_address: str) -> dict[str, str]:
    values, _ = template('annotator')
    env = {'PATH': os.defpath, 'LANG': 'C.UTF-8'} | unit_environment('annotator') | values
    return env | {'DATA_FOLDER': str(tmp_path / 'data'), 'LOOP_HOST': loop_url, 'LOOP_ORGANIZATION': DEMO_ORG,
                  'LOOP_PROJECT': DEMO_PROJECT, 'NODE_PORT': str(free_port()), 'NOTIFY_SOCKET': notify_address,
                  'WATCHDOG_USEC': '200000', 'LOOP_POLL_INTERVAL': '0.2', 'LOOPNODE_LOGIC': MOCK_LOGIC}


def start(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = tmp_path / 'annotator.log'
    with log_path.open('wb') as log_file:
        process = subprocess.Popen(exec_start('annotator', env), env=env, stdout=log_file, stderr=subprocess.STDOUT)
    return process, log_path


@pytest.mark.timeout(60)
def test_installed_annotator_speaks_sd_notify(devloop: DevLoop, notify_socket: tuple[socket.socket, str],
                                              tmp_path: Path) -> None:
    """READY=1 once listening, WATCHDOG=1 every WATCHDOG_USEC/2 (also while connected), STOPPING=1, exit 0."""
    sock, address = notify_socket
    env = annotator_environment(tmp_path, devloop.url, address)
    process, log_path = start(tmp_path, env)
    messages: list[str] = []
    try:
        until(lambda: 'READY=1' in received(sock, messages), timeout=30, message='READY=1')
        until(lambda: requests.get(f'{devloop.url}/admin/annotators', timeout=5).json()['statuses'], timeout=30)
        until(lambda: received(sock, messages).count('WATCHDOG=1') >= 3, timeout=10, message='3 x WATCHDOG=1')
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
        until(lambda: 'STOPPING=1' in received(sock, messages), timeout=5, message='STOPPING=1')
    finally:
        _stop(process)


@pytest.mark.timeout(60)
def test_installed_annotator_exits_75_on_restart(devloop: DevLoop, notify_socket: tuple[socket.socket, str],
                                                 tmp_path: Path) -> None:
    """A12 under the unit: the Loop's `restart` → STOPPING=1 and exit 75 (RestartForceExitStatus=75)."""
    sock, address = notify_socket
    env = annotator_environment(tmp_path, devloop.url, address)
    process, log_path = start(tmp_path, env)
    messages: list[str] = []
    try:
        nodes = until(lambda: requests.get(f'{devloop.url}/admin/annotators', timeout=5).json()['connected'], 30)
        requests.post(f'{devloop.url}/admin/nodes/{nodes[0]["sid"]}/emit', json={'event': 'restart', 'args': []},
                      timeout=10)
        assert process.wait(timeout=30) == 75, log_path.read_text()
        assert 'STOPPING=1' in received(sock, messages)
    finally:
        _stop(process)
