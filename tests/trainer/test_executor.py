"""Executor: subprocess in its own process group, log file, stop with grace (trainer.md §7)."""
from __future__ import annotations

import os
from pathlib import Path

from loopnode.service.executor import Executor
from loopnode.service.executor import ExecutorRegistry
from tests.helpers import until


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie that nobody reaped yet counts as gone
        return Path(f'/proc/{pid}/stat').read_text().split()[2] != 'Z'
    except FileNotFoundError:
        return False


def test_bash_loop_logs_and_stops(tmp_path: Path) -> None:
    """T18: a bash loop printing every second runs, its output is in the log, `stop` ends it, then no such process."""
    executor = Executor(tmp_path / 'run')
    executor.start('bash -c "while true; do echo tick-$$; sleep 1; done"')
    assert executor.is_running()
    pid = executor.pid
    until(lambda: 'tick-' in executor.get_log(), timeout=5)
    assert (tmp_path / 'run' / 'last_training.log').exists()
    code = executor.stop(grace=5)
    assert code is not None and not executor.is_running()
    until(lambda: not alive(pid), timeout=5)
    assert executor.get_log_by_lines(tail=1)[0].startswith('tick-')


def test_stop_kills_grandchildren_and_sigterm_ignorers(tmp_path: Path) -> None:
    """TF8 (unit part): the whole process group dies, also a child that ignores SIGTERM."""
    executor = Executor(tmp_path)
    executor.start(['bash', '-c', "trap '' TERM; sleep 300 & echo child $!; wait"])
    until(lambda: 'child ' in executor.get_log(), timeout=5)
    child = int(executor.get_log().split('child ')[1].split()[0])
    assert alive(child)
    executor.stop(grace=0.5)
    until(lambda: not alive(child), timeout=5)


def test_exit_code_and_env(tmp_path: Path) -> None:
    executor = Executor(tmp_path)
    executor.start(['bash', '-c', 'echo "$MY_VALUE $PWD"; exit 3'], env={'MY_VALUE': 'hello'})
    assert executor.wait(10) == 3
    assert executor.get_log().strip() == f'hello {tmp_path}'
    assert executor.stop() == 3


def test_registry_stops_every_executor(tmp_path: Path) -> None:
    executors = ExecutorRegistry()
    first, second = executors.new(tmp_path / 'a'), executors.new(tmp_path / 'b')
    first.start('sleep 300')
    second.start('sleep 300')
    executors.stop_all(grace=2)
    assert not first.is_running() and not second.is_running()


def test_stale_group_of_a_killed_node_is_killed(tmp_path: Path) -> None:
    """After kill -9 of the node its training group lives on; the restarted node kills it by the pid file."""
    pids = tmp_path / 'pids'
    executor = ExecutorRegistry(pid_folder=pids).new(tmp_path / 'training')
    executor.start(['bash', '-c', 'sleep 300 & wait'])
    pid = executor.pid
    assert (pids / str(pid)).exists()
    restarted = ExecutorRegistry(pid_folder=pids)  # the node's next process: it never saw that executor
    assert restarted.kill_stale() == 1
    until(lambda: executor.return_code is not None, timeout=5)
    assert not list(pids.iterdir())
    (pids / str(os.getpid())).write_text(f'{os.getpid()} 1')  # a reused pid: wrong start time
    assert restarted.kill_stale() == 0 and alive(os.getpid())
    assert not list(pids.iterdir())


def test_finished_executors_do_not_pile_up(tmp_path: Path) -> None:
    """§7: a logic that calls `new_executor` per detection batch must not grow the set without end; an executor
    dropped from it while finished is tracked again (and killed on abort) once it is started again."""
    executors = ExecutorRegistry(pid_folder=tmp_path / 'pids')
    first = executors.new(tmp_path / 'batch')
    first.start(['true'])
    first.wait(10)
    for n in range(20):
        executor = executors.new(tmp_path / f'batch{n}')
        executor.start(['true'])
        if n % 2:
            executor.wait(10)  # the others exit without anybody waiting for them
        else:
            until(lambda: executor.return_code is not None, timeout=10)  # noqa: B023 - used at once
    assert len(executors._tracked()) <= 2 and len(list((tmp_path / 'pids').iterdir())) <= 1
    first.start(['sleep', '30'])
    pid = first.pid
    executors.stop_all(grace=2)
    until(lambda: not alive(pid), timeout=5)
    assert not first.is_running()


def test_a_command_that_cannot_start_leaves_no_open_log(tmp_path: Path) -> None:
    """§7: `start` of a missing program raises, and the log file it opened for the child is closed again."""
    executor = Executor(tmp_path / 'run')
    before = len(os.listdir('/proc/self/fd'))
    for _ in range(5):
        try:
            executor.start(['/nonexistent/program'])
            raise AssertionError('expected the start to fail')
        except FileNotFoundError:
            pass
    assert executor._log_file is None
    assert len(os.listdir('/proc/self/fd')) <= before
