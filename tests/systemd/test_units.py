"""systemd units and env templates in systemd/ (issue 6): `systemd-analyze verify`, every setting documented
with its true default, and the installed `loopnode detector` started as ExecStart does under a fake
NOTIFY_SOCKET (READY=1, WATCHDOG=1, STOPPING=1, exit 0; exit 75 after NodeNeedsRestartError)."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import requests

from loopnode.devloop import DEMO_ORG, DEMO_PROJECT, DevLoop
from loopnode.devloop.seed import demo_categories, generated_images
from loopnode.settings import Settings
from tests.fixtures_devloop import devloop  # noqa: F401 - shared fixture
from tests.helpers import free_port, until

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / 'systemd'
NODE_TYPES = ('detector', 'trainer', 'annotator', 'converter')
INSTALLED_LOOPNODE = '/opt/loopnode/venv/bin/loopnode'
SET_BY_SYSTEMD = {'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'JOURNAL_STREAM'}
UNIT_ONLY = {'LOOPNODE_LOGIC'}  # read by the unit's ExecStart, not by loopnode
TEMPLATE_LINE = re.compile(r'^(#?)([A-Z][A-Z0-9_]*)=(.*)$')


def venv_loopnode() -> Path:
    """The `loopnode` console script of the venv running the tests (what /opt/loopnode/venv/bin holds)."""
    return Path(sys.executable).parent / 'loopnode'


def unit_entries(node_type: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of every assignment in loopnode-<type>.service, in file order."""
    entries, section = [], ''
    for line in (UNITS / f'loopnode-{node_type}.service').read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(('#', ';')):
            continue
        if line.startswith('['):
            section = line.strip('[]')
            continue
        key, _, value = line.partition('=')
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_value(node_type: str, key: str) -> str:
    [value] = [v for _, k, v in unit_entries(node_type) if k == key]
    return value


def unit_environment(node_type: str) -> dict[str, str]:
    return dict(v.split('=', 1) for _, k, v in unit_entries(node_type) if k == 'Environment')


def template(node_type: str) -> tuple[dict[str, str], dict[str, str]]:
    """(set, documented defaults) of systemd/<type>.env: `NAME=value` lines and `#NAME=value` lines."""
    values: dict[str, str] = {}
    defaults: dict[str, str] = {}
    for line in (UNITS / f'{node_type}.env').read_text().splitlines():
        match = TEMPLATE_LINE.match(line)
        if match:
            commented, name, value = match.groups()
            assert name not in values and name not in defaults, f'{name} appears twice in {node_type}.env'
            (defaults if commented else values)[name] = value
    return values, defaults


def settings_table() -> dict[str, str]:
    """Variable -> "Used by" cell of the settings table in docs/settings.md (the documented settings)."""
    table: dict[str, str] = {}
    used_by_column = None
    for line in (REPO / 'docs' / 'settings.md').read_text().splitlines():
        if line.startswith('| Variable | Alias | Default |'):
            used_by_column = [c.strip() for c in line.strip('|').split('|')].index('Used by')
            continue
        if used_by_column is not None and not line.startswith('|'):
            break
        if used_by_column is not None and line.startswith('| `'):
            cells = [c.strip() for c in line.strip('|').split('|')]
            for name in re.findall(r'`([A-Z][A-Z0-9_]*)`', cells[0]):
                table[name] = cells[used_by_column]
    assert len(table) > 20, 'docs/settings.md has no settings table "| Variable | Alias | Default | … | Used by | …"'
    return table


def used_by(cell: str, node_type: str) -> bool:
    return cell.startswith('all') or node_type in cell


@pytest.mark.parametrize('node_type', NODE_TYPES)
def test_unit_passes_systemd_analyze_verify(node_type: str, tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the unit; ExecStart points at the installed venv's console script
    (replaced by this venv's `loopnode` for the check, which therefore must exist)."""
    if shutil.which('systemd-analyze') is None:
        pytest.skip('systemd-analyze is not installed (apt-get install systemd)')
    assert venv_loopnode().is_file(), 'the loopnode console script is not installed in this venv'
    text = (UNITS / f'loopnode-{node_type}.service').read_text()
    assert f'ExecStart={INSTALLED_LOOPNODE} {node_type} --logic ${{LOOPNODE_LOGIC}}' in text
    unit = tmp_path / f'loopnode-{node_type}.service'
    unit.write_text(text.replace(INSTALLED_LOOPNODE, str(venv_loopnode())))
    result = subprocess.run(['systemd-analyze', 'verify', '--man=no', str(unit)], capture_output=True, text=True,
                            timeout=60)
    ours = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


@pytest.mark.parametrize('node_type', NODE_TYPES)
def test_unit_supervision_and_hardening(node_type: str) -> None:
    """Type=notify with a watchdog, restart on 75 but never on 78, a dedicated user, the state directory,
    the env file and the hardening options."""
    entries = {(k, v) for _, k, v in unit_entries(node_type)}
    expected = {('Type', 'notify'), ('NotifyAccess', 'main'), ('WatchdogSec', '30'), ('Restart', 'on-failure'),
                ('RestartForceExitStatus', '75'), ('RestartPreventExitStatus', '78'),
                ('EnvironmentFile', f'/etc/loopnode/{node_type}.env'), ('StateDirectory', 'loopnode'),
                ('Environment', f'DATA_FOLDER=/var/lib/loopnode/{node_type}'), ('User', 'loopnode'),
                ('NoNewPrivileges', 'true'), ('ProtectSystem', 'strict'), ('ProtectHome', 'true'),
                ('PrivateTmp', 'true'), ('ReadWritePaths', '/var/lib/loopnode'), ('KillMode', 'control-group'),
                ('WantedBy', 'multi-user.target')}
    if node_type != 'annotator':
        expected.add(('SupplementaryGroups', 'video'))
    assert expected <= entries, sorted(expected - entries)


@pytest.mark.parametrize('node_type', NODE_TYPES)
def test_env_template_documents_every_setting_with_its_true_default(node_type: str, tmp_path: Path) -> None:
    """Every variable of the settings table (docs/settings.md) used by this node type is in the template; only known
    variables are; the template parses; uncommenting every documented default changes no setting."""
    values, defaults = template(node_type)
    table = settings_table()
    wanted = {name for name, cell in table.items() if used_by(cell, node_type)} - SET_BY_SYSTEMD
    listed = set(values) | set(defaults)
    assert wanted <= listed, f'{node_type}.env lacks {sorted(wanted - listed)}'
    assert listed - UNIT_ONLY <= set(table), f'unknown variables in {node_type}.env: {sorted(listed - set(table))}'
    assert values.get('LOOPNODE_LOGIC'), 'LOOPNODE_LOGIC must be set (the unit passes it to --logic)'
    unit_env = unit_environment(node_type)
    assert defaults['DATA_FOLDER'] == unit_env['DATA_FOLDER']
    adapted = {'DATA_FOLDER': str(tmp_path)}
    as_shipped = Settings.from_env(unit_env | values | adapted, node_type=node_type)
    all_spelled_out = Settings.from_env(unit_env | defaults | values | adapted, node_type=node_type)
    assert all_spelled_out == as_shipped


# ---- the installed console script under a fake NOTIFY_SOCKET -------------------------------------------------

@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A unix datagram socket in the abstract namespace, as systemd's NOTIFY_SOCKET; (socket, address)."""
    name = f'@loopnode-test-{uuid.uuid4().hex}'
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind('\0' + name[1:])
    sock.setblocking(False)
    try:
        yield sock, name
    finally:
        sock.close()


def received(sock: socket.socket, messages: list[str]) -> list[str]:
    """Append every pending datagram (one state line each) to `messages` and return it."""
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


def exec_start(node_type: str, env: dict[str, str]) -> list[str]:
    """The unit's ExecStart with ${VAR} expanded from `env` and the installed script replaced by this venv's."""
    argv = shlex.split(unit_value(node_type, 'ExecStart'))
    argv = [re.sub(r'\$\{([A-Z_]+)\}', lambda m: env[m.group(1)], arg) for arg in argv]
    assert argv[0] == INSTALLED_LOOPNODE
    return [str(venv_loopnode()), *argv[1:]]


def detector_environment(tmp_path: Path, loop_url: str, notify_address: str, **overrides: str) -> dict[str, str]:
    """What systemd would pass: a minimal base, the unit's Environment=, the template's values, adapted."""
    values, _ = template('detector')
    env = {'PATH': os.defpath, 'LANG': 'C.UTF-8'} | unit_environment('detector') | values
    env |= {'DATA_FOLDER': str(tmp_path / 'data'), 'LOOP_HOST': loop_url, 'LOOP_ORGANIZATION': DEMO_ORG,
            'LOOP_PROJECT': DEMO_PROJECT, 'NODE_PORT': str(free_port()), 'NOTIFY_SOCKET': notify_address,
            'WATCHDOG_USEC': '200000', 'LOOP_POLL_INTERVAL': '0.2', 'OUTBOX_MIN_FREE_MB': '0'}
    return env | overrides


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.timeout(60)
def test_installed_detector_speaks_sd_notify(devloop: DevLoop, notify_socket: tuple[socket.socket, str],
                                             tmp_path: Path) -> None:
    """The unit's ExecStart with the template's values: READY=1 once listening, WATCHDOG=1 every
    WATCHDOG_USEC/2, STOPPING=1 on SIGTERM, exit 0."""
    sock, address = notify_socket
    env = detector_environment(tmp_path, devloop.url, address)
    log_path = tmp_path / 'detector.log'
    with log_path.open('wb') as log_file:
        process = subprocess.Popen(exec_start('detector', env), env=env, stdout=log_file, stderr=subprocess.STDOUT)
    messages: list[str] = []
    try:
        until(lambda: 'READY=1' in received(sock, messages), timeout=30, message='READY=1')
        url = f'http://127.0.0.1:{env["NODE_PORT"]}'
        assert requests.get(url + '/healthz', timeout=5).status_code == 200
        until(lambda: received(sock, messages).count('WATCHDOG=1') >= 3, timeout=10, message='3 x WATCHDOG=1')
        assert 'STOPPING=1' not in messages
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
        until(lambda: 'STOPPING=1' in received(sock, messages), timeout=5, message='STOPPING=1')
        assert messages.index('READY=1') < messages.index('STOPPING=1')
    finally:
        _stop(process)


@pytest.mark.timeout(60)
def test_logic_needing_a_restart_ends_the_process_with_75(devloop: DevLoop,
                                                          notify_socket: tuple[socket.socket, str],
                                                          tmp_path: Path) -> None:
    """F21 as systemd sees it: `evaluate` raising NodeNeedsRestartError answers 500, then the process stops
    (STOPPING=1) with exit code 75, which the unit's RestartForceExitStatus=75 turns into a restart."""
    sock, address = notify_socket
    env = detector_environment(tmp_path, devloop.url, address,
                               LOOPNODE_LOGIC='tests.systemd.restart_logic:GpuGoneFactory', PYTHONPATH=str(REPO))
    log_path = tmp_path / 'detector.log'
    with log_path.open('wb') as log_file:
        process = subprocess.Popen(exec_start('detector', env), env=env, stdout=log_file, stderr=subprocess.STDOUT)
    messages: list[str] = []
    try:
        url = f'http://127.0.0.1:{env["NODE_PORT"]}'
        until(lambda: requests.get(url + '/readyz', timeout=2).status_code == 200, timeout=30, message='model 1.1')
        jpeg = generated_images(DEMO_ORG, DEMO_PROJECT, demo_categories(), {'inbox': 1})[0].jpeg
        response = requests.post(url + '/detect', files={'file': ('sample.jpg', jpeg, 'image/jpeg')}, timeout=10)
        assert response.status_code == 500 and 'GPU is gone' in response.text
        assert process.wait(timeout=30) == 75, log_path.read_text()
        assert 'STOPPING=1' in received(sock, messages)
    finally:
        _stop(process)
