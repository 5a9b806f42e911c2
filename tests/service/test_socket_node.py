"""SocketNodeService: repeat cycle, /status loop fields, PUT /socketio, healthz while the Loop is away, restart → 75."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import requests

from loopnode.devloop import DevLoop
from loopnode.settings import Settings
from tests.helpers import free_port, until
from tests.service.echo_socket_node import EchoSocketNode

REPO = Path(__file__).resolve().parents[2]


def settings_for(tmp_path: Path, url: str, **env: str) -> Settings:
    values = {'DATA_FOLDER': str(tmp_path / 'data'), 'NODE_PORT': '0', 'LOOP_HOST': url,
              'LOOP_POLL_INTERVAL': '0.1', 'LOOP_ORGANIZATION': 'zauberzeug', 'LOOP_PROJECT': 'demo', **env}
    return Settings.from_env(values, node_type='annotator')


@pytest.fixture
def echo_node(tmp_path: Path, devloop: DevLoop) -> Iterator[EchoSocketNode]:
    node = EchoSocketNode(settings_for(tmp_path, devloop.url), name='echo')
    node.start()
    yield node
    node.stop()


def annotator_statuses(url: str) -> list[dict]:
    return requests.get(f'{url}/admin/statuses', timeout=5).json()['annotators']


def test_status_every_cycle_and_status_route(echo_node: EchoSocketNode, devloop: DevLoop) -> None:
    until(lambda: annotator_statuses(devloop.url) and len(annotator_statuses(devloop.url)[0]['history']) >= 3)
    body = requests.get(f'{echo_node.url}/status', timeout=5).json()
    assert body['loop']['connected'] is True and body['loop']['since'] and body['loop']['last_ok']
    assert body['node']['id'] == echo_node.uuid


def test_socketio_off_disconnects_and_on_reconnects(echo_node: EchoSocketNode, devloop: DevLoop) -> None:
    until(echo_node.loop_connected)
    assert requests.put(f'{echo_node.url}/socketio', data='off', timeout=5).json() == 'off'
    until(lambda: not echo_node.loop_connected() and not requests.get(f'{devloop.url}/admin/nodes').json()['nodes'])
    assert requests.get(f'{echo_node.url}/status', timeout=5).json()['loop']['connected'] is False
    assert requests.put(f'{echo_node.url}/socketio', data='on', timeout=5).json() == 'on'
    until(echo_node.loop_connected)


def test_healthz_stays_green_while_the_loop_is_away(tmp_path: Path) -> None:
    node = EchoSocketNode(settings_for(tmp_path, f'http://127.0.0.1:{free_port()}'), name='echo')
    node.start()
    try:
        until(lambda: node.loop_socket.state()['last_error'])
        assert requests.get(f'{node.url}/healthz', timeout=5).json() == {'status': 'ok'}
        loop = requests.get(f'{node.url}/status', timeout=5).json()['loop']
        assert loop['connected'] is False and 'connect to' in loop['last_error'] and loop['since']
    finally:
        node.stop()


@pytest.mark.timeout(60)
def test_restart_event_exits_75_in_a_real_process(tmp_path: Path, devloop: DevLoop) -> None:
    """A12: `restart` from the Loop ends the node process with exit code 75."""
    env = dict(os.environ, DATA_FOLDER=str(tmp_path / 'data'), NODE_PORT=str(free_port()), LOOP_HOST=devloop.url,
               LOOP_POLL_INTERVAL='0.2', PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, '-m', 'tests.service.echo_socket_node'], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        nodes = until(lambda: requests.get(f'{devloop.url}/admin/nodes', timeout=5).json()['nodes'], 30)
        response = requests.post(f'{devloop.url}/admin/nodes/{nodes[0]["sid"]}/emit',
                                 json={'event': 'restart', 'args': []}, timeout=10)
        assert response.status_code in (200, 502), response.text  # the ack may race the disconnect
        assert proc.wait(20) == 75
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = proc.stdout.read().decode() if proc.stdout else ''
    assert 'asked for a restart' in output and 'Traceback' not in output
