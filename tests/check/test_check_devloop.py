"""`loopnode check` against devloop (issue 17): all green for a good robot, one ✖ line naming each fault.

Every case runs the real command as a subprocess and compares a snapshot of the robot's folder (env file,
unit, data folder) before and after: the check writes nothing, not even uuids.json or __pycache__.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Iterator

import pytest

from loopnode.devloop import DevLoop
from loopnode.service.node import NodeService
from loopnode.settings import Settings
from tests.check.robot import CheckRun, Robot, snapshot
from tests.helpers import free_port


@pytest.fixture
def robot(devloop: DevLoop, tmp_path: Path) -> Robot:
    return Robot(tmp_path / 'robot', devloop.url)


def checked(robot: Robot, *args: str, extra_env: dict[str, str] | None = None) -> CheckRun:
    """Run the check and assert that it left the robot's folder exactly as it was."""
    robot.write_env()
    before = snapshot(robot.root)
    run = robot.run(*args, extra_env=extra_env)
    assert snapshot(robot.root) == before, 'loopnode check changed files'
    return run


def test_good_robot_is_all_green(robot: Robot) -> None:
    """A good env file, unit and data folder with a current_model: every line ✔ (or – not applicable), exit 0."""
    robot.install_model('1.1')
    run = checked(robot)
    assert run.code == 0, '\n'.join(run.lines)
    assert run.failures == []
    assert run.lines[0].startswith('loopnode check detector (env ')
    assert run.line('✔ settings').endswith('parsed, every value valid')
    assert 'writable for' in run.line('✔ data folder')
    assert run.line('✔ port')
    assert run.line('✔ logic loopnode.detector:MockDetectorFactory').endswith('a detector factory for format mocked')
    assert run.line('✔ current_model') == '✔ current_model: 1.1: model.json valid; not built (a check loads no model)'
    assert 'GET /api/status answered 200' in run.line('✔ Loop ')
    assert run.line('– login').startswith('– login: no credentials')
    assert run.line('✔ project zauberzeug/demo').endswith('exists')
    assert run.line('✔ deployment target').startswith('✔ deployment target: 1.1 (')
    assert 'the deployed 1.1 has it' in run.line('✔ models in format mocked')
    assert ' runs `' in run.line('✔ systemd unit')
    assert run.lines[-1] == 'all 10 checks passed'
    assert not (robot.data / 'uuids.json').exists()


def test_no_data_folder_yet_is_fine_and_not_created(robot: Robot) -> None:
    """A fresh robot: DATA_FOLDER does not exist; the check passes and does not create it."""
    run = checked(robot)
    assert run.code == 0, '\n'.join(run.lines)
    assert 'does not exist yet' in run.line('✔ data folder')
    assert run.line('– current_model').endswith('the node downloads its deployment target')
    assert not robot.data.exists()


def test_wrong_host(robot: Robot) -> None:
    """A LOOP_HOST where nothing listens: ✖ Loop ... Connection refused; the Loop checks after it are skipped."""
    robot.env['LOOP_HOST'] = f'http://127.0.0.1:{free_port()}'
    run = checked(robot)
    assert run.code == 1
    assert run.failures == [run.line('✖ Loop http://127.0.0.1:')]
    assert 'Connection refused' in run.failures[0] and 'LOOP_HOST' in run.failures[0]
    assert run.line('– login, project, models').endswith('not checked: the Loop did not answer')


def test_unknown_project(robot: Robot) -> None:
    """LOOP_PROJECT naming no project: ✖ project ... not found, with the projects the Loop shows."""
    robot.env['LOOP_PROJECT'] = 'nope'
    run = checked(robot)
    assert run.code == 1
    line = run.line('✖ project zauberzeug/nope')
    assert run.failures == [line]
    assert 'not found (HTTP 404); visible: zauberzeug/demo' in line and 'LOOP_PROJECT' in line


def test_data_folder_cannot_be_created(robot: Robot) -> None:
    """DATA_FOLDER below a file: ✖ data folder ... not a folder."""
    (robot.root / 'afile').write_text('x', encoding='utf-8')
    robot.env['DATA_FOLDER'] = str(robot.root / 'afile' / 'data')
    run = checked(robot)
    assert run.code == 1
    assert run.failures == [run.line(f'✖ data folder {robot.root / "afile" / "data"}')]
    assert 'is not a folder' in run.failures[0] and 'DATA_FOLDER' in run.failures[0]


@pytest.mark.skipif(os.geteuid() != 0, reason='checking for another user needs root')
def test_data_folder_not_writable_for_the_units_user(robot: Robot) -> None:
    """Run as root for a unit with User=nobody: a root-owned 0755 data folder is ✖ not writable for nobody."""
    robot.data.mkdir(mode=0o755)
    robot.write_unit(user='nobody')
    run = checked(robot)
    assert run.code == 1
    assert run.failures == [run.line(f'✖ data folder {robot.data}')]
    assert f'{robot.data} is not writable for user nobody' in run.failures[0]


def test_data_folder_outside_the_units_writable_paths(robot: Robot) -> None:
    """ProtectSystem=strict: a DATA_FOLDER outside ReadWritePaths= is ✖ (the service could not write it)."""
    robot.env['DATA_FOLDER'] = '/srv/elsewhere'
    run = checked(robot)
    assert run.code == 1
    assert 'outside what the unit may write (ProtectSystem=strict' in run.line('✖ data folder /srv/elsewhere')


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_busy_port(robot: Robot, busy_port: int) -> None:
    """NODE_PORT taken by a listening socket: ✖ port ... in use."""
    robot.env['NODE_PORT'] = str(busy_port)
    run = checked(robot)
    assert run.code == 1
    assert run.failures == [run.line(f'✖ port 127.0.0.1:{busy_port}: in use by another process')]
    assert 'NODE_PORT' in run.failures[0]


def test_port_of_the_running_node_is_not_a_failure(robot: Robot, tmp_path: Path) -> None:
    """`loopnode check && systemctl restart ...` (docs/systemd.md) while the node runs: its port answers as a
    loopnode node, so the port line is a warning (the restart frees it), not a ✖ that blocks the restart."""
    settings = Settings.from_env({'DATA_FOLDER': str(tmp_path / 'running'), 'NODE_PORT': '0',
                                  'NODE_HOST': '127.0.0.1', 'LOOP_HOST': 'http://127.0.0.1:9'}, node_type='converter')
    running = NodeService(settings, name='running node')
    running.start()
    try:
        robot.env['NODE_PORT'] = str(running.port)
        run = checked(robot)
    finally:
        running.stop()
    assert run.code == 0, '\n'.join(run.lines)
    assert 'a running loopnode node' in run.line(f'! port 127.0.0.1:{running.port}')


def test_logic_that_does_not_import(robot: Robot) -> None:
    """LOOPNODE_LOGIC naming a missing module: ✖ logic ... cannot import; the format check is left out."""
    robot.env['LOOPNODE_LOGIC'] = 'no_such_package.detector:Factory'
    run = checked(robot)
    assert run.code == 1
    line = run.line('✖ logic no_such_package.detector:Factory')
    assert run.failures == [line]
    assert "cannot import 'no_such_package.detector'" in line
    assert not [x for x in run.lines if 'models in format' in x]


def test_logic_without_the_factory_api(robot: Robot) -> None:
    """A module that imports but whose object has no model_format/build: ✖ naming what is missing; no .pyc left."""
    package = robot.root / 'mylogic'
    package.mkdir()
    (package / '__init__.py').write_text('class Factory:\n    """Not a factory."""\n', encoding='utf-8')
    robot.env['LOOPNODE_LOGIC'] = 'mylogic:Factory'
    run = checked(robot, extra_env={'PYTHONPATH': str(robot.root)})
    assert run.code == 1
    line = run.line('✖ logic mylogic:Factory')
    assert 'imports, but not a detector factory' in line and 'model_format' in line and 'build' in line
    assert not (package / '__pycache__').exists()


def test_current_model_is_not_built(robot: Robot) -> None:
    """The check runs beside the live detector: it validates model.json but never calls the factory's build
    (a second engine on the device); the logic line checks that build exists and is callable."""
    robot.install_model('1.1')
    package = robot.root / 'buildlogic'
    package.mkdir()
    (package / '__init__.py').write_text(
        'class Factory:\n'
        '    """Fails the check if it is asked to build."""\n'
        '    model_format = "mocked"\n\n'
        '    def build(self, model_info):\n'
        '        raise RuntimeError("the check built the model")\n', encoding='utf-8')
    robot.env['LOOPNODE_LOGIC'] = 'buildlogic:Factory'
    run = checked(robot, extra_env={'PYTHONPATH': str(robot.root)})
    assert run.code == 0, '\n'.join(run.lines)
    assert run.line('✔ logic buildlogic:Factory').endswith('a detector factory for format mocked')
    assert run.line('✔ current_model').startswith('✔ current_model: 1.1: model.json valid; not built')


def test_bad_number_is_a_settings_error(robot: Robot) -> None:
    """NODE_PORT=80a: ✖ setting NODE_PORT naming value and range, exit 78, no other check runs."""
    robot.env['NODE_PORT'] = '80a'
    run = checked(robot)
    assert run.code == 78
    assert run.failures == [f"✖ setting NODE_PORT: '80a', expected an integer in [0, 65535] → fix NODE_PORT in "
                            f'{robot.env_file}']
    assert run.lines[-1] == '1 setting error(s): the node would not start (exit 78)'


def test_every_settings_error_at_once(robot: Robot) -> None:
    """Several bad values and a broken line: one ✖ line each, in file order, exit 78."""
    robot.env.update({'NODE_PORT': '99999', 'MIN_UNCERTAIN_THRESHOLD': '0.9', 'USE_BACKDOOR_CONTROLS': 'maybe',
                      'LOG_LEVEL': 'loud'})
    robot.write_env()
    with robot.env_file.open('a', encoding='utf-8') as f:
        f.write('export LOOP_PROJECT=demo\n')
    before = snapshot(robot.root)
    run = robot.run()
    assert snapshot(robot.root) == before
    assert run.code == 78
    assert [line.split(':')[0] for line in run.failures] == [
        f'✖ env file {robot.env_file}', '✖ setting LOG_LEVEL', '✖ setting NODE_PORT',
        '✖ setting USE_BACKDOOR_CONTROLS', '✖ setting MIN_UNCERTAIN_THRESHOLD']
    assert "'export LOOP_PROJECT=demo' is not NAME=VALUE" in run.failures[0]


def test_current_model_that_does_not_load(robot: Robot) -> None:
    """current_model with a broken model.json: ✖ current_model ... invalid model.json."""
    robot.install_model('1.1')
    (robot.data / 'models' / '1.1' / 'model.json').write_text('{"id": 3}', encoding='utf-8')
    run = checked(robot)
    assert run.code == 1
    assert run.failures == [run.line('✖ current_model: 1.1: invalid model.json')]


def test_unit_whose_executable_is_missing(robot: Robot) -> None:
    """ExecStart pointing to a venv that does not exist: ✖ systemd unit ... does not exist."""
    text = robot.unit_file.read_text(encoding='utf-8').replace('ExecStart=/', 'ExecStart=/nonexistent/')
    robot.unit_file.write_text(text, encoding='utf-8')
    run = checked(robot)
    assert run.code == 1
    assert 'which does not exist' in run.line('✖ systemd unit')


def test_login_refused_and_accepted(tmp_path: Path) -> None:
    """devloop with strict auth: a wrong password is ✖ login as admin: refused (HTTP 401); the right one ✔."""
    loop = DevLoop(tmp_path / 'devloop', auth='strict', users='admin:secret')
    loop.start()
    try:
        robot = Robot(tmp_path / 'robot', loop.url, env={'LOOP_USERNAME': 'admin', 'LOOP_PASSWORD': 'wrong'})
        run = checked(robot)
        assert run.code == 1
        assert run.failures == ['✖ login as admin: refused (HTTP 401) → check LOOP_USERNAME and LOOP_PASSWORD']
        assert run.line('– project, models').endswith('not checked: login failed')
        robot.env['LOOP_PASSWORD'] = 'secret'
        run = checked(robot)
        assert run.code == 0, '\n'.join(run.lines)
        assert run.line('✔ login as admin').endswith('accepted')
        robot.env.pop('LOOP_USERNAME')
        robot.env.pop('LOOP_PASSWORD')
        run = checked(robot)
        assert run.line('✖ project zauberzeug/demo').endswith('set LOOP_USERNAME and LOOP_PASSWORD')
    finally:
        loop.stop()


def test_data_folder_under_the_units_state_directory_is_left_to_systemd(robot: Robot) -> None:
    """DATA_FOLDER under a StateDirectory= that does not exist yet: ✔ systemd creates it; the check does not."""
    state = f'loopnode-check-test-{os.getpid()}'
    text = robot.unit_file.read_text(encoding='utf-8').replace('StateDirectory=loopnode', f'StateDirectory={state}')
    robot.unit_file.write_text(text, encoding='utf-8')
    robot.env['DATA_FOLDER'] = f'/var/lib/{state}/detector'
    run = checked(robot)
    assert run.code == 0, '\n'.join(run.lines)
    assert f'systemd creates /var/lib/{state} for ' in run.line(f'✔ data folder /var/lib/{state}/detector')
    assert not Path(f'/var/lib/{state}').exists()


def test_alias_warnings_are_shown_but_do_not_fail(robot: Robot) -> None:
    """LOOP_PROJECT and its alias PROJECT set differently: a `!` line naming both; still exit 0."""
    robot.env['PROJECT'] = 'other'
    run = checked(robot)
    assert run.code == 0, '\n'.join(run.lines)
    assert "LOOP_PROJECT and PROJECT are both set and differ; using LOOP_PROJECT='demo'" in run.line('! settings')
