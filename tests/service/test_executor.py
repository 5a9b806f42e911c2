"""Executor (trainer.md §7): own process group, log file, stop = SIGTERM → grace → SIGKILL to the group."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loopnode.service.executor import Executor, ExecutorRegistry, stop_all
from tests.helpers import until


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours (not reaped yet) counts as gone
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def test_runs_in_its_own_group_and_logs(tmp_path: Path) -> None:
    """cwd = base_path, env merged, stdout and stderr appended to the log; a new process group."""
    executor = Executor(tmp_path / 'run', log_name='x.log')
    executor.start([sys.executable, '-c', 'import os,sys; print(os.getcwd()); print(os.environ["EXTRA"]); '
                                          'print(os.getpgid(0) == os.getpid(), file=sys.stderr)'],
                   env={'EXTRA': 'yes'})
    assert executor.wait(30) == 0 and not executor.is_running()
    assert executor.get_log_by_lines() == [str(tmp_path / 'run'), 'yes', 'True']
    executor.start('echo second')
    assert executor.wait(30) == 0
    assert executor.get_log_by_lines(tail=1) == ['second'] and len(executor.get_log_by_lines()) == 4
    assert Executor(tmp_path / 'never').stop() is None


def test_refuses_a_second_start_while_running(tmp_path: Path) -> None:
    executor = Executor(tmp_path)
    executor.start(['sleep', '30'])
    try:
        with pytest.raises(RuntimeError, match='already running'):
            executor.start(['sleep', '1'])
    finally:
        assert executor.stop(grace=5) == -15


def test_stop_kills_the_whole_group_and_ignorers_get_sigkill(tmp_path: Path) -> None:
    """A child ignoring SIGTERM and its grandchild are both gone after stop(grace)."""
    script = ('import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); '
              'p = subprocess.Popen(["sleep", "600"]); open("grandchild.pid", "w").write(str(p.pid)); '
              'time.sleep(600)')
    executor = Executor(tmp_path)
    executor.start([sys.executable, '-c', script])
    pid_file = tmp_path / 'grandchild.pid'
    until(lambda: pid_file.exists() and pid_file.read_text(), timeout=20, message='grandchild started')
    grandchild = int(pid_file.read_text())
    started = time.monotonic()
    assert stop_all([executor], grace=0.5)[executor] == -9
    assert time.monotonic() - started < 10
    until(lambda: not alive(grandchild), timeout=10, message='grandchild gone')


@pytest.mark.timeout(20)
def test_an_executor_that_survived_sigkill_is_not_waited_for_again(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A process that outlived a SIGKILL once (uninterruptible sleep; marked here on a SIGTERM ignorer) gets one
    more SIGKILL from the next stop, not another grace period (a second one would pass systemd's stop timeout)."""
    executor = Executor(tmp_path)
    executor.start(['sh', '-c', 'trap "" TERM; sleep 600 & wait'])
    until(executor.is_running, timeout=10)
    executor.unkillable = True
    assert executor not in stop_all([executor], grace=60)  # the test's 20 s timeout: no 60 s grace was waited
    assert 'survived SIGKILL before' in caplog.text
    until(lambda: not executor.is_running(), timeout=10, message='the second SIGKILL ended it')


def test_atexit_kills_leftovers(tmp_path: Path) -> None:
    """An executor still running when the interpreter exits is killed with its group."""
    code = ('import sys; from loopnode.service.executor import Executor; '
            f'e = Executor({str(tmp_path)!r}); e.start(["sleep", "600"]); print(e.pid, flush=True)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60, check=True)
    pid = int(out.stdout.strip())
    until(lambda: not alive(pid), timeout=10, message='sleep killed at exit')


def test_a_start_that_fails_leaves_no_open_log(tmp_path: Path) -> None:
    """A missing program raises from start() and its log file is closed again (no fd per failed attempt)."""
    before = len(os.listdir('/proc/self/fd'))
    for attempt in range(5):  # as a converter retrying with a fresh `new_executor` each time
        executor = Executor(tmp_path / str(attempt))
        with pytest.raises(FileNotFoundError):
            executor.start(['/nonexistent/program'])
        assert not executor.is_running()
    assert len(os.listdir('/proc/self/fd')) == before
    assert Executor(tmp_path / 'other').stop() is None



def test_stop_after_wait_leaves_a_reused_pid_alone(tmp_path: Path) -> None:
    """Once the leader was reaped its pid may belong to another process group: stop() must not signal it."""
    executor = Executor(tmp_path)
    executor.start(['true'])
    assert executor.wait(30) == 0
    stranger = subprocess.Popen(['sleep', '600'], start_new_session=True)
    try:
        assert executor._process is not None
        executor._process.pid = stranger.pid  # what the kernel may do with a reaped pid: give it to a new leader
        executor.stop(grace=1)
        assert stranger.poll() is None and alive(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait(10)


def test_since_start_reads_only_the_current_attempt(tmp_path: Path) -> None:
    """The log is appended across starts; `since_start` returns what the last started process wrote."""
    executor = Executor(tmp_path)
    executor.start(['sh', '-c', 'echo first; echo "CUDA out of memory"'])
    assert executor.wait(30) == 0
    assert executor.get_log_by_lines(since_start=True) == ['first', 'CUDA out of memory']
    executor.start(['echo', 'second'])
    assert executor.wait(30) == 0
    assert executor.get_log_by_lines(since_start=True) == ['second']
    assert executor.get_log(since_start=True) == 'second\n'
    assert executor.get_log_by_lines() == ['first', 'CUDA out of memory', 'second']
    assert executor.get_log_by_lines(tail=0) == []
    executor.log_path.write_text('')  # truncated by someone else: the whole (new) log counts
    assert executor.get_log_by_lines(since_start=True) == []


def test_a_registry_gives_its_executors_the_node_environment(tmp_path: Path) -> None:
    """The child starts from the environment the registry was given (Settings.environ), not this process's."""
    registry = ExecutorRegistry({'PATH': '/usr/bin:/bin', 'FROM_SETTINGS': 'yes'})
    executor = registry.new(tmp_path)
    executor.start([sys.executable, '-c', 'import json, os; print(json.dumps(sorted(os.environ)))'], env={'EXTRA': '1'})
    assert executor.wait(30) == 0
    names = set(json.loads(executor.get_log()))
    assert {'PATH', 'FROM_SETTINGS', 'EXTRA'} <= names and 'PYTEST_CURRENT_TEST' not in names
    assert registry.running() == []


def test_a_node_kills_its_executors_on_stop_and_restart(tmp_path: Path) -> None:
    """NodeService.stop() kills every executor of the node; the pid file of one it could not reap is gone."""
    from loopnode.service.node import NodeService
    from loopnode.settings import Settings
    settings = Settings.from_env({'DATA_FOLDER': str(tmp_path / 'data'), 'NODE_PORT': '0',
                                  'LOOP_HOST': 'http://127.0.0.1:9', 'SHUTDOWN_GRACE_SEC': '2'}, node_type='converter')
    node = NodeService(settings)
    node.start()
    executor = node.executors.new(tmp_path / 'run')
    executor.start(['sh', '-c', 'trap "" TERM; sleep 600 & echo $! > grandchild.pid; wait'])
    until(lambda: (tmp_path / 'run' / 'grandchild.pid').read_text().strip(), timeout=10, message='grandchild')
    grandchild = int((tmp_path / 'run' / 'grandchild.pid').read_text())
    pid_folder = settings.data_folder / 'executor_pids' / node.uuid
    assert [p.name for p in pid_folder.iterdir()] == [str(executor.pid)]
    node.stop()
    assert not executor.is_running() and not list(pid_folder.iterdir())
    until(lambda: not alive(grandchild), timeout=10, message='grandchild killed')
