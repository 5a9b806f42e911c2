"""NodeService: common routes, token, workers, exit codes, uuid, SIGTERM drain and sd_notify (loop-protocol.md §10)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from loopnode.errors import NodeNeedsRestartError
from loopnode.service.identity import node_uuid
from loopnode.service.node import NodeService
from loopnode.service.workers import PeriodicWorker, Worker
from loopnode.settings import Settings
from tests.helpers import free_port, until

REPO = Path(__file__).resolve().parents[2]


def settings_for(tmp_path: Path, **env: str) -> Settings:
    values = {'DATA_FOLDER': str(tmp_path / 'data'), 'NODE_PORT': '0', 'LOOP_HOST': 'http://127.0.0.1:9'}
    values.update(env)
    return Settings.from_env(values, node_type='converter')


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeService]:
    n = NodeService(settings_for(tmp_path), name='test node')
    n.start()
    yield n
    n.stop()


def test_common_routes(node: NodeService) -> None:
    assert requests.get(f'{node.url}/healthz', timeout=5).json() == {'status': 'ok'}
    assert requests.get(f'{node.url}/readyz', timeout=5).json() == {'status': 'ready'}
    status = requests.get(f'{node.url}/status', timeout=5).json()
    assert status['node']['id'] == node.uuid and status['node']['name'] == 'test node'
    assert set(status['loop']) == {'connected', 'last_ok', 'last_error'}
    assert 'loopnode_loop_requests_total' in requests.get(f'{node.url}/metrics', timeout=5).text
    assert requests.get(f'{node.url}/nope', timeout=5).json()['error'].startswith('no route')


def test_debug_logging_and_socketio_toggles(node: NodeService) -> None:
    import logging
    assert requests.put(f'{node.url}/debug_logging', data='on', timeout=5).json() == 'on'
    assert logging.getLogger('loopnode').level == logging.DEBUG
    assert requests.put(f'{node.url}/debug_logging', data='"off"', timeout=5).json() == 'off'
    assert logging.getLogger('loopnode').level == logging.INFO
    bad = requests.put(f'{node.url}/debug_logging', data='maybe', timeout=5)
    assert bad.status_code == 400 and bad.json()['detail'] == bad.json()['error']
    assert requests.put(f'{node.url}/socketio', data='off', timeout=5).json() == 'off' and node.loop_muted
    assert requests.put(f'{node.url}/socketio', data='on', timeout=5).json() == 'on' and not node.loop_muted


def test_token_protects_everything_but_healthz(tmp_path: Path) -> None:
    """F33 (REST part of the shell): NODE_API_TOKEN."""
    n = NodeService(settings_for(tmp_path, NODE_API_TOKEN='s3cret'))
    n.start()
    try:
        assert requests.get(f'{n.url}/healthz', timeout=5).status_code == 200
        r = requests.get(f'{n.url}/status', timeout=5)
        assert r.status_code == 401 and r.json()['error'] == 'unauthorized'
        assert requests.get(f'{n.url}/status', headers={'Authorization': 'Bearer nope'}, timeout=5).status_code == 401
        assert requests.get(f'{n.url}/status', headers={'Authorization': 'Bearer s3cret'}, timeout=5).status_code == 200
    finally:
        n.stop()


def test_dead_worker_shows_in_healthz(node: NodeService) -> None:
    def crash(stop: threading.Event) -> None:
        raise RuntimeError('boom')
    node.add_worker(Worker('crasher', crash))
    until(lambda: requests.get(f'{node.url}/healthz', timeout=5).status_code == 500, 5)
    assert requests.get(f'{node.url}/healthz', timeout=5).json() == {'status': 'error', 'dead_threads': ['crasher']}


def test_needs_restart_in_a_worker_exits_75(node: NodeService) -> None:
    def tick() -> None:
        raise NodeNeedsRestartError('gpu gone')
    node.add_worker(PeriodicWorker('restarter', tick, lambda: 1.0))
    until(lambda: node.shutdown_requested.is_set(), 5)
    assert node.exit_code == 75


def test_periodic_worker_survives_a_failing_tick(node: NodeService) -> None:
    calls: list[int] = []

    def tick() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError('one bad cycle')
    node.add_worker(PeriodicWorker('ticker', tick, lambda: 0.01))
    until(lambda: len(calls) >= 3, 5)


def test_uuid_is_persisted_and_corrupt_file_set_aside(tmp_path: Path) -> None:
    first = node_uuid(tmp_path, 'My Node')
    assert node_uuid(tmp_path, 'my node') == first
    assert json.loads((tmp_path / 'uuids.json').read_text()) == {'my_node': first}
    (tmp_path / 'uuids.json').write_text('{broken')
    second = node_uuid(tmp_path, 'My Node')
    assert second != first and any(p.name.startswith('uuids.json.corrupt-') for p in tmp_path.iterdir())


def start_slow_node(tmp_path: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    values = dict(os.environ, DATA_FOLDER=str(tmp_path / 'data'), NODE_PORT=str(port),
                  LOOP_HOST='http://127.0.0.1:9', PYTHONPATH=str(REPO))
    values.update(env)
    return subprocess.Popen([sys.executable, '-m', 'tests.service.slow_node'], cwd=REPO, env=values,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.timeout(60)
def test_a_second_process_on_the_same_data_folder_leaves_the_live_node_alone(node: NodeService,
                                                                           tmp_path: Path) -> None:
    """A node started by hand beside a running one on the same DATA_FOLDER exits 1 naming the holder's pid, before
    it empties `tmp/` or kills the live node's executors by their pid files (`{DATA}/.lock`)."""
    staged = node.settings.tmp_folder / 'staged-by-the-live-node'
    staged.write_bytes(b'x')
    executor = node.executors.new(tmp_path / 'work')
    executor.start(['sleep', '60'])
    try:
        env = {**os.environ, 'DATA_FOLDER': str(node.settings.data_folder), 'NODE_PORT': '0',
               'LOOP_HOST': 'http://127.0.0.1:9', 'NODE_NAME': 'test node'}
        second = subprocess.run([sys.executable, '-m', 'loopnode', 'converter', '--logic',
                                 'loopnode.converter:MockConverterLogic'], env=env, cwd=REPO, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 1, second.stderr
        assert f'another process (pid {os.getpid()}) runs a node on' in second.stderr
        assert 'Traceback' not in second.stderr
        assert staged.exists() and executor.is_running()
    finally:
        executor.stop(grace=1)
    node.stop()
    assert not executor.is_running()
    restarted = NodeService(settings_for(tmp_path), name='test node')  # the lock went with the stop
    restarted.start()
    restarted.stop()


def test_sigterm_during_a_slow_request_drains_and_exits_0(tmp_path: Path) -> None:
    port = free_port()
    proc = start_slow_node(tmp_path, port)
    try:
        until(lambda: requests.get(f'http://127.0.0.1:{port}/healthz', timeout=1).ok, 20)
        result: dict[str, object] = {}

        def slow() -> None:
            result['body'] = requests.get(f'http://127.0.0.1:{port}/slow', timeout=10).json()
        caller = threading.Thread(target=slow)
        caller.start()
        until(lambda: (tmp_path / 'data' / 'slow-started').exists(), 10)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        caller.join(5)
        assert result['body'] == {'done': True}
        assert time.monotonic() - started < 10
        output = proc.stdout.read().decode() if proc.stdout else ''
        assert 'did not stop' not in output and 'Traceback' not in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(60)
@pytest.mark.parametrize('kind', ['converter', 'trainer'])
def test_exit_past_stuck_threads_still_kills_the_executors(tmp_path: Path, kind: str) -> None:
    """A worker stuck past SHUTDOWN_GRACE_SEC makes the node leave with os._exit, which skips atexit hooks:
    the process group (shell and grandchild) of an executor that thread started after stop() had killed the
    others must still be killed before the exit (trainer.md §7), for a trainer node too."""
    port = free_port()
    values = dict(os.environ, DATA_FOLDER=str(tmp_path / 'data'), NODE_PORT=str(port),
                  LOOP_HOST='http://127.0.0.1:9', PYTHONPATH=str(REPO), SHUTDOWN_GRACE_SEC='0.5')
    proc = subprocess.Popen([sys.executable, '-m', 'tests.service.stuck_node', kind], cwd=REPO, env=values,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pid_file = tmp_path / 'data' / 'executor.pid'
    pids: list[int] = []
    try:
        until(lambda: requests.get(f'http://127.0.0.1:{port}/healthz', timeout=2).ok, 20, message='node up')
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        output = proc.stdout.read().decode() if proc.stdout else ''
        assert 'threads still run' in output, output
        pids = [int(line) for line in pid_file.read_text().split()]
        assert len(pids) == 2, output
        until(lambda: not any(process_alive(pid) for pid in pids), 10, message='executor group killed with the node')
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in pids:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)


def process_alive(pid: int) -> bool:
    """Not gone and not a zombie waiting for its (init) parent."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


@pytest.mark.timeout(60)
def test_sd_notify_ready_watchdog_stopping(tmp_path: Path) -> None:
    sock_path = str(tmp_path / 'notify.sock')
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(sock_path)
    listener.settimeout(10)
    port = free_port()
    proc = start_slow_node(tmp_path, port, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC='200000')
    messages: list[str] = []
    try:
        while messages.count('WATCHDOG=1') < 3:
            messages.append(listener.recv(256).decode())
        proc.send_signal(signal.SIGTERM)
        while 'STOPPING=1' not in messages:
            messages.append(listener.recv(256).decode())
        assert proc.wait(15) == 0
    finally:
        listener.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert messages[0] == 'READY=1'
    assert messages.index('STOPPING=1') > messages.index('WATCHDOG=1')


def test_malloc_arenas_can_be_limited() -> None:
    """glibc's arena cap (what MALLOC_ARENA_MAX=2 does) is applied in-process on glibc systems."""
    import platform

    from loopnode.service.memory import limit_malloc_arenas
    assert limit_malloc_arenas(2) is (platform.libc_ver()[0] == 'glibc')


def test_unexpected_errors_answer_json(node: NodeService) -> None:
    """A route that raises answers 500 JSON with the message; werkzeug's own HTTP errors keep their code."""
    @node.app.get('/boom')
    def boom() -> object:
        raise RuntimeError('kaputt')
    r = requests.get(f'{node.url}/boom', timeout=5)
    assert r.status_code == 500 and r.json()['error'] == 'RuntimeError: kaputt'
    r = requests.post(f'{node.url}/healthz', timeout=5)
    assert r.status_code == 405 and 'not allowed' in r.json()['error']
