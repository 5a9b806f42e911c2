"""The converter as a process: the upstream README's "Test operability" flow with curl (C1), SIGTERM during
`_convert` (C9), a logic ignoring the cancel token, CLI usage errors, and the systemd unit's ExecStart under a
fake NOTIFY_SOCKET (READY=1, WATCHDOG=1, STOPPING=1)."""
from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from loopnode.converter import MockConverterLogic
from loopnode.converter.node import resolve_logic
from loopnode.devloop import DEMO_ORG, DEMO_PROJECT, DevLoop
from tests.converter.conftest import zip_of
from tests.helpers import free_port, until
from tests.systemd.test_units import exec_start, notify_socket, received, template, unit_environment  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
DEMO_PATH = f'/api/{DEMO_ORG}/projects/{DEMO_PROJECT}'


def clean_env(**env: str) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith(('LOOP_', 'NODE_', 'CONVERTER_'))}
    return values | {'PYTHONPATH': str(REPO)} | env


class Converter:
    """`loopnode converter` as a subprocess, its output in a log file."""

    def __init__(self, tmp_path: Path, loop_url: str, logic: str, **env: str) -> None:
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.log_path = tmp_path / 'converter.log'
        self.env = clean_env(LOOP_HOST=loop_url, DATA_FOLDER=str(tmp_path / 'converter-data'),
                             NODE_PORT=str(self.port), CONVERTER_POLL_INTERVAL='0.5', **env)
        with self.log_path.open('wb') as log_file:
            self.process = subprocess.Popen([sys.executable, '-m', 'loopnode', 'converter', '--logic', logic],
                                            env=self.env, stdout=log_file, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors='replace')

    def wait_listening(self) -> None:
        until(lambda: requests.get(self.url + '/healthz', timeout=2).status_code == 200, timeout=30,
              message='converter listening')

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def converters() -> Iterator[list[Converter]]:
    started: list[Converter] = []
    yield started
    for converter in started:
        converter.kill()


def curl(*args: str, cwd: Path) -> str:
    result = subprocess.run(['curl', '--silent', '--show-error', '--fail', *args], cwd=cwd, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.timeout(90)
def test_c1_readme_test_operability_with_curl(devloop: DevLoop, tmp_path: Path,
                                              converters: list[Converter]) -> None:
    """C1 as in docs/converter.md: upload my_model.zip with curl, format_a listed, format_b empty; start
    `loopnode converter --logic loopnode.converter.mock:format_a_to_format_b`; format_b appears."""
    if shutil.which('curl') is None:
        pytest.skip('curl is not installed')
    (tmp_path / 'my_model.zip').write_bytes(zip_of({'weights.bin': b'w' * 1000}))
    base = devloop.url + DEMO_PATH
    uploaded = json.loads(curl('--request', 'POST', '-F', 'files=@my_model.zip', f'{base}/format_a', cwd=tmp_path))
    listed = json.loads(curl(f'{base}/models?format=format_a', cwd=tmp_path))['models']
    assert [(m['id'], m['formats']) for m in listed] == [(uploaded['id'], ['format_a'])]
    assert json.loads(curl(f'{base}/models?format=format_b', cwd=tmp_path)) == {'models': []}
    converter = Converter(tmp_path, devloop.url, 'loopnode.converter.mock:format_a_to_format_b')
    converters.append(converter)
    converted = until(lambda: json.loads(curl(f'{base}/models?format=format_b', cwd=tmp_path))['models'],
                      timeout=60, message='format_b listed')
    assert [(m['id'], m['formats']) for m in converted] == [(uploaded['id'], ['format_a', 'format_b'])]
    converter.process.send_signal(signal.SIGTERM)
    assert converter.process.wait(timeout=30) == 0, converter.log()


@pytest.mark.timeout(90)
def test_c9_sigterm_during_convert_kills_the_executor(devloop: DevLoop, tmp_path: Path,
                                                      converters: list[Converter]) -> None:
    """C9: SIGTERM while `_convert` waits for an executor (`sleep 600` with a grandchild): the node exits 0
    within the grace period and both processes are gone; nothing was uploaded."""
    pid_file = tmp_path / 'pids'
    converter = Converter(tmp_path, devloop.url, 'tests.converter.logics:ExecutorLogic', PID_FILE=str(pid_file),
                          LOOP_ORGANIZATION=DEMO_ORG, LOOP_PROJECT=DEMO_PROJECT, SHUTDOWN_GRACE_SEC='3')
    converters.append(converter)
    until(lambda: pid_file.exists() and len(pid_file.read_text().split()) == 2, timeout=30, message='executor up')
    child_text, grandchild_file = pid_file.read_text().split()
    until(lambda: Path(grandchild_file).read_text().strip(), timeout=10, message='grandchild up')
    child, grandchild = int(child_text), int(Path(grandchild_file).read_text())
    started = time.monotonic()
    converter.process.send_signal(signal.SIGTERM)
    assert converter.process.wait(timeout=30) == 0, converter.log()
    assert time.monotonic() - started < 3 + 2
    until(lambda: not process_alive(child) and not process_alive(grandchild), timeout=5, message='both gone')
    assert requests.get(devloop.url + '/admin/received/conversions', timeout=5).json() == {'conversions': []}


@pytest.mark.timeout(90)
def test_a_restart_after_kill_9_kills_the_executor_left_behind(devloop: DevLoop, tmp_path: Path,
                                                               converters: list[Converter]) -> None:
    """kill -9 of the converter leaves its executor's group (`sleep 600` with a grandchild) running; the
    restarted converter (same data folder and name) kills that group at start, by the node's pid file."""
    pid_file = tmp_path / 'pids'
    first = Converter(tmp_path, devloop.url, 'tests.converter.logics:ExecutorLogic', PID_FILE=str(pid_file),
                      LOOP_ORGANIZATION=DEMO_ORG, LOOP_PROJECT=DEMO_PROJECT)
    converters.append(first)
    until(lambda: pid_file.exists() and len(pid_file.read_text().split()) == 2, timeout=30, message='executor up')
    child_text, grandchild_file = pid_file.read_text().split()
    until(lambda: Path(grandchild_file).read_text().strip(), timeout=10, message='grandchild up')
    pids = [int(child_text), int(Path(grandchild_file).read_text())]
    first.kill()
    assert all(process_alive(pid) for pid in pids)
    try:
        second = Converter(tmp_path, devloop.url, 'loopnode.converter.mock:format_a_to_format_b')
        converters.append(second)
        until(lambda: not any(process_alive(pid) for pid in pids), timeout=30, message='left-behind group killed')
        assert 'left behind by an earlier process of this node' in second.log()
        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(timeout=30) == 0, second.log()
    finally:
        for pid in pids:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f'/proc/{pid}/stat')
    return stat.exists() and stat.read_text().split(')')[-1].split()[0] != 'Z'


@pytest.mark.timeout(90)
def test_logic_ignoring_the_cancel_token_does_not_block_the_exit(devloop: DevLoop, tmp_path: Path,
                                                                 converters: list[Converter]) -> None:
    """A `_convert` that sleeps 10 minutes and never looks at the cancel token: after the grace period the
    process ends anyway (exit 0, the straggler named in the log)."""
    pid_file = tmp_path / 'hanging'
    converter = Converter(tmp_path, devloop.url, 'tests.converter.logics:HangingLogic', PID_FILE=str(pid_file),
                          LOOP_ORGANIZATION=DEMO_ORG, LOOP_PROJECT=DEMO_PROJECT, SHUTDOWN_GRACE_SEC='1')
    converters.append(converter)
    until(pid_file.exists, timeout=30, message='logic hanging')
    converter.process.send_signal(signal.SIGTERM)
    assert converter.process.wait(timeout=30) == 0
    assert 'convert' in converter.log() and 'still run' in converter.log()


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    """`loopnode converter` without --logic or with something that is not a ConverterLogic exits 2."""
    for args, message in ((['converter'], 'needs --logic'),
                          (['converter', '--logic', 'collections:OrderedDict'], 'is not a ConverterLogic')):
        result = subprocess.run([sys.executable, '-m', 'loopnode', *args], capture_output=True, text=True,
                                timeout=60, env=clean_env(DATA_FOLDER=str(tmp_path)))
        assert result.returncode == 2 and message in result.stderr, result.stderr


@pytest.mark.timeout(60)
def test_installed_converter_speaks_sd_notify(devloop: DevLoop, notify_socket: tuple, tmp_path: Path) -> None:
    """The unit's ExecStart with converter.env's values (the mock logic): READY=1 once listening, WATCHDOG=1
    every WATCHDOG_USEC/2, a pass converts the demo models, STOPPING=1 on SIGTERM, exit 0."""
    sock, address = notify_socket
    values, _ = template('converter')
    env = {'PATH': os.defpath, 'LANG': 'C.UTF-8'} | unit_environment('converter') | values
    env |= {'DATA_FOLDER': str(tmp_path / 'data'), 'LOOP_HOST': devloop.url, 'NODE_PORT': str(free_port()),
            'NOTIFY_SOCKET': address, 'WATCHDOG_USEC': '200000', 'LOOPNODE_LOGIC': 'loopnode.converter:MockConverterLogic'}
    log_path = tmp_path / 'converter.log'
    with log_path.open('wb') as log_file:
        process = subprocess.Popen(exec_start('converter', env), env=env, stdout=log_file, stderr=subprocess.STDOUT)
    messages: list[str] = []
    try:
        until(lambda: 'READY=1' in received(sock, messages), timeout=30, message='READY=1')
        until(lambda: received(sock, messages).count('WATCHDOG=1') >= 3, timeout=10, message='3 x WATCHDOG=1')
        url = f'http://127.0.0.1:{env["NODE_PORT"]}'
        # keep reading: like systemd, or the socket's queue fills and WATCHDOG=1 blocks the main thread
        until(lambda: received(sock, messages) and requests.get(url + '/status', timeout=2).json()[
            'converter']['converted'] == 3, timeout=30, message='demo models converted')
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
        until(lambda: 'STOPPING=1' in received(sock, messages), timeout=5, message='STOPPING=1')
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.timeout(90)
def test_c9_restart_from_the_loop_exits_75(devloop: DevLoop, tmp_path: Path, converters: list[Converter]) -> None:
    """C9/§B6: the converter connects Socket.IO with nodeType converter and the scope headers, sends no status,
    and `restart` ends the process with exit code 75."""
    converter = Converter(tmp_path, devloop.url, 'loopnode.converter:MockConverterLogic',
                          LOOP_ORGANIZATION=DEMO_ORG, LOOP_PROJECT=DEMO_PROJECT)
    converters.append(converter)
    [node] = until(lambda: requests.get(devloop.url + '/admin/nodes', timeout=5).json()['nodes'], timeout=30,
                   message='converter connected')
    assert (node['node_type'], node['organization'], node['project']) == ('converter', DEMO_ORG, DEMO_PROJECT)
    until(lambda: requests.get(converter.url + '/status', timeout=2).json()['loop']['connected'], timeout=10,
          message='connected in /status')
    response = requests.post(f'{devloop.url}/admin/nodes/{node["sid"]}/emit', json={'event': 'restart', 'args': []},
                             timeout=10)
    assert response.status_code in (200, 502), response.text  # the ack may race the disconnect
    assert converter.process.wait(timeout=30) == 75, converter.log()
    assert 'asked for a restart' in converter.log() and 'Traceback' not in converter.log()
    statuses = requests.get(devloop.url + '/admin/statuses', timeout=5).json()
    assert not any(statuses.get(kind) for kind in ('trainers', 'annotators', 'detectors')), statuses


def test_cli_accepts_a_no_argument_callable() -> None:
    """`--logic` may name a logic instance or a no-argument callable returning one (e.g. functools.partial)."""
    logic = MockConverterLogic()
    assert resolve_logic(logic) is logic
    made = resolve_logic(functools.partial(MockConverterLogic, 'format_a', 'format_b'))
    assert made is not None and (made.source_format, made.target_format) == ('format_a', 'format_b')
    assert resolve_logic(functools.partial(dict)) is None and resolve_logic(MockConverterLogic) is None
