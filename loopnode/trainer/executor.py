"""Executor: one subprocess in its own process group, with a log file (trainer.md §7).

`stop(grace)` sends SIGTERM to the whole group, waits, then SIGKILLs the group, so grandchildren (a
framework's data loader workers, a shell's children) never outlive an abort. Every executor registers in an
`ExecutorSet` (the logic's), which the node stops on abort, shutdown and process exit (`atexit`).
"""
from __future__ import annotations

import atexit
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
import weakref
from pathlib import Path
from typing import IO, Mapping, Sequence

from ..fsutil import atomic_write_bytes

log = logging.getLogger(__name__)

DEFAULT_GRACE = 10.0
DEFAULT_LOG_NAME = 'last_training.log'
PID_FILE = '.executor.pid'  # `<pid> <start time>` of a running process group, for a restart after kill -9


class Executor:
    """Runs one command at a time in `base_path`, appending stdout and stderr to `base_path/log_name`."""

    def __init__(self, base_path: Path | str, log_name: str = DEFAULT_LOG_NAME,
                 environ: Mapping[str, str] | None = None) -> None:
        self.path = Path(base_path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.log_path = self.path / log_name
        self._environ = dict(os.environ if environ is None else environ)  # noqa: SIM401 - the child's env
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._owner: ExecutorSet | None = None  # the set that stops it on abort; rejoined on every start
        _ALL.add(self)

    def start(self, cmd: Sequence[str] | str, env: Mapping[str, str] | None = None) -> None:
        """Start `cmd` (a list, or a string split shell-style; never a shell) in its own process group."""
        args = shlex.split(cmd) if isinstance(cmd, str) else [str(a) for a in cmd]
        if not args:
            raise ValueError('empty command')
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                raise RuntimeError(f'executor in {self.path} is already running pid {self._process.pid}')
            self._close_log()
            self._log = open(self.log_path, 'ab')  # noqa: SIM115 - closed by wait/stop
            child_env = dict(self._environ)
            child_env.update(env or {})
            try:
                self._process = subprocess.Popen(args, cwd=self.path, env=child_env, stdin=subprocess.DEVNULL,
                                                 stdout=self._log, stderr=subprocess.STDOUT,
                                                 start_new_session=True, close_fds=True)
            except BaseException:
                self._close_log()
                raise
            _write_pid_file(self.path / PID_FILE, self._process.pid)
            log.info('started %s (pid %d) in %s', shlex.join(args), self._process.pid, self.path)
        if self._owner is not None:
            self._owner.add(self)  # it may have been dropped from the set while it was finished

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        """The process exists and has not exited."""
        process = self._process
        return process is not None and process.poll() is None

    @property
    def return_code(self) -> int | None:
        process = self._process
        return None if process is None else process.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit (TimeoutExpired after `timeout`), close the log, return the exit code."""
        process = self._process
        if process is None:
            return None
        code = process.wait(timeout)
        with self._lock:
            self._close_log()
            (self.path / PID_FILE).unlink(missing_ok=True)
        return code

    def stop(self, grace: float = DEFAULT_GRACE) -> int | None:
        """SIGTERM to the group, wait up to `grace` s, then SIGKILL the group; reap; return the exit code."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning('pid %d did not stop within %.0f s; killing its process group', process.pid, grace)
        _signal_group(process.pid, signal.SIGKILL)  # grandchildren that ignored SIGTERM, too
        code = process.wait()
        with self._lock:
            self._close_log()
            (self.path / PID_FILE).unlink(missing_ok=True)
        return code

    def get_log(self) -> str:
        """The whole log as text (empty if none yet)."""
        try:
            return self.log_path.read_text(errors='replace')
        except FileNotFoundError:
            return ''

    def get_log_by_lines(self, tail: int | None = None) -> list[str]:
        """The log's lines, or the last `tail` of them."""
        lines = self.get_log().splitlines()
        return lines[-tail:] if tail else lines

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/pid/stat), which tells a reused pid apart."""
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _write_pid_file(path: Path, pid: int) -> None:
    try:
        atomic_write_bytes(path, f'{pid} {_start_time(pid) or ""}'.encode())
    except OSError as e:
        log.warning('could not write %s: %s', path, e)


def kill_stale_executors(folder: Path) -> int:
    """Kill the process groups a previous node process left behind in `folder` (after kill -9); returns how many.

    Only a group whose leader still has the recorded pid *and* start time is killed, so a reused pid is safe.
    """
    killed = 0
    for pid_file in folder.rglob(PID_FILE) if folder.is_dir() else []:
        try:
            pid_text, _, started = pid_file.read_text().strip().partition(' ')
            pid = int(pid_text)
        except (OSError, ValueError):
            pid_file.unlink(missing_ok=True)
            continue
        if started and _start_time(pid) == started:
            log.warning('killing process group %d left behind by an earlier trainer process', pid)
            _signal_group(pid, signal.SIGKILL)
            killed += 1
        pid_file.unlink(missing_ok=True)
    return killed


class ExecutorSet:
    """The executors of one logic; `stop_all` kills every one of them (abort, shutdown)."""

    def __init__(self) -> None:
        self._executors: list[Executor] = []
        self._lock = threading.Lock()

    def add(self, executor: Executor) -> Executor:
        """Track `executor`; finished ones are dropped (an executor rejoins when it is started again)."""
        executor._owner = self
        with self._lock:
            self._executors = [e for e in self._executors if e is not executor and e.is_running()]
            self._executors.append(executor)
        return executor

    def all(self) -> list[Executor]:
        with self._lock:
            return list(self._executors)

    def stop_all(self, grace: float = DEFAULT_GRACE) -> None:
        """Stop every running executor: SIGTERM to all groups at once, then one shared grace period, then SIGKILL."""
        running = [e for e in self.all() if e.is_running()]
        for executor in running:
            if executor.pid is not None:
                _signal_group(executor.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for executor in running:
            executor.stop(max(0.0, deadline - time.monotonic()))


_ALL: 'weakref.WeakSet[Executor]' = weakref.WeakSet()


def _kill_all_at_exit() -> None:
    """Process exit: no training subprocess outlives the node (SIGKILL to every group still running)."""
    for executor in list(_ALL):
        if executor.is_running() and executor.pid is not None:
            _signal_group(executor.pid, signal.SIGKILL)


atexit.register(_kill_all_at_exit)
