"""Executor: one external program in its own process group, logging to a file (trainer.md §7).

Used by logics that run external tools (a training script, a TensorRT build). The child calls `setsid`, so
`stop()` ends the whole group: SIGTERM, `grace` seconds, then SIGKILL. While it runs, an executor has an
`atexit` hook that SIGKILLs its group, so no GPU process outlives an interpreter exit.

`ExecutorRegistry` holds the executors of one node (`node.executors`): made with the environment the node's
Settings were loaded from, stopped all at once (abort, shutdown), SIGKILLed before an `os._exit` (which skips
atexit). While one runs, `<pid> <start time>` of its group is in `pid_folder/<pid>`; a node restarted after a
kill -9 calls `kill_stale()` at start and kills the groups its dead predecessor left behind. The start time
(field 22 of /proc/<pid>/stat) tells a reused pid apart, so an unrelated process is never hit.
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
from pathlib import Path
from typing import IO, Iterable, Mapping, Sequence

from ..fsutil import atomic_write_bytes
from ..settings import process_environ

log = logging.getLogger(__name__)

DEFAULT_GRACE = 10.0
DEFAULT_LOG_NAME = 'last_training.log'
KILL_WAIT = 5.0  # s after SIGKILL before giving up on a process in uninterruptible sleep


class Executor:
    """Runs one command at a time in `base_path` with stdout and stderr appended to `base_path/log_name`.

    `environ` is the environment the child starts from (a node passes its Settings' snapshot; None: this
    process's environment). `registry` is set by `ExecutorRegistry.new`.
    """

    def __init__(self, base_path: str | os.PathLike[str], log_name: str = DEFAULT_LOG_NAME, *,
                 environ: Mapping[str, str] | None = None, registry: ExecutorRegistry | None = None) -> None:
        self.base_path = Path(base_path)
        self.base_path.mkdir(parents=True, exist_ok=True)
        self.log_path = self.base_path / log_name
        self.log_start = 0  # size of the (appended) log when the current process started
        self._environ = environ
        self._registry = registry
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._lock = threading.Lock()
        self.unkillable = False  # survived a SIGKILL (uninterruptible sleep): later stops do not wait for it again

    def start(self, cmd: str | Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Start `cmd` (a list, or a string split shell-style; no shell) in a new process group.

        The child's environment is `environ` updated with `env`; raises RuntimeError if already running.
        """
        argv = shlex.split(cmd) if isinstance(cmd, str) else [str(arg) for arg in cmd]
        if not argv:
            raise ValueError('empty command')
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                raise RuntimeError(f'executor in {self.base_path} is already running pid {self._process.pid}')
            self._close_log()
            self._log_file = open(self.log_path, 'ab')  # noqa: SIM115 - closed when the process is reaped
            self.log_start = self._log_file.tell()
            child_env = dict(process_environ() if self._environ is None else self._environ)
            child_env.update(env or {})
            try:
                self._process = subprocess.Popen(argv, cwd=self.base_path, env=child_env, stdin=subprocess.DEVNULL,
                                                 stdout=self._log_file, stderr=subprocess.STDOUT,
                                                 start_new_session=True, close_fds=True)
            except BaseException:  # e.g. the program does not exist: no log file left open
                self._close_log()
                raise
            atexit.register(self._kill_at_exit)
            pid = self._process.pid
        log.info('started %s (pid %d) in %s', shlex.join(argv), pid, self.base_path)
        if self._registry is not None:
            self._registry._started(self)  # noqa: SLF001 - the registry's own hook (outside our lock)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def is_running(self) -> bool:
        """The process exists and has not exited."""
        process = self._process
        return process is not None and process.poll() is None

    @property
    def return_code(self) -> int | None:
        """The exit code once the process ended (None while it runs or if nothing ran)."""
        process = self._process
        return None if process is None else process.poll()

    def signal_group(self, signum: int) -> None:
        """Send `signum` to the process group (nothing if it is gone or its pid was handed out again)."""
        process = self._process
        if process is None:
            return
        if process.returncode is not None and _pid_in_use(process.pid):
            # the leader was reaped; while members of its group live, the kernel does not hand its pid out
            # again, so a process with that pid now is another one (maybe leading its own group): leave it
            return
        signal_group(process.pid, signum)

    def stop(self, grace: float = DEFAULT_GRACE) -> int | None:
        """SIGTERM to the group, wait up to `grace` s, then SIGKILL to the group; reap; return the exit code."""
        return stop_all([self], grace).get(self)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit (raises subprocess.TimeoutExpired after `timeout`), close the log, return the code."""
        process = self._process
        if process is None:
            return None
        code = process.wait(timeout)
        self._finished()
        return code

    def get_log(self, since_start: bool = False) -> str:
        """The whole log as text, or with `since_start` only what the current (last started) process wrote."""
        try:
            with open(self.log_path, 'rb') as f:
                if since_start and f.seek(0, os.SEEK_END) >= self.log_start:
                    f.seek(self.log_start)
                else:
                    f.seek(0)  # no offset, or the log was truncated or replaced since
                return f.read().decode(errors='replace')
        except FileNotFoundError:
            return ''

    def get_log_by_lines(self, tail: int | None = None, since_start: bool = False) -> list[str]:
        """The log's lines (the last `tail` of them); `since_start` as in `get_log`."""
        lines = self.get_log(since_start).splitlines()
        return lines if tail is None else lines[-tail:] if tail > 0 else []

    def _kill_at_exit(self) -> None:
        self.signal_group(signal.SIGKILL)  # also the children of a leader that exited by itself

    def _finished(self) -> None:
        """The process was reaped: kill what its group left behind (§7: the group is stopped on every exit path),
        close the log, drop the exit hook, leave the registry (idempotent)."""
        self.signal_group(signal.SIGKILL)
        atexit.unregister(self._kill_at_exit)
        if self._registry is not None:
            self._registry._finished(self)  # noqa: SLF001
        with self._lock:
            self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def signal_group(pgid: int, signum: int) -> None:
    """`killpg`, ignoring a group that is gone (or not ours)."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _pid_in_use(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_all(executors: Iterable[Executor], grace: float = DEFAULT_GRACE) -> dict[Executor, int | None]:
    """Stop every executor: SIGTERM to all groups, one shared `grace` deadline, SIGKILL to the rest; reap all."""
    executors = list(executors)
    for executor in [e for e in executors if e.unkillable and e.is_running()]:
        log.error('pid %s survived SIGKILL before; not waiting for it again', executor.pid)
        executor.signal_group(signal.SIGKILL)
    executors = [e for e in executors if not (e.unkillable and e.is_running())]
    for executor in executors:
        if executor.is_running():
            log.info('stopping pid %s (SIGTERM to its process group)', executor.pid)
        executor.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    codes: dict[Executor, int | None] = {}
    for executor in executors:
        process = executor._process  # noqa: SLF001 - same module
        if process is None:
            codes[executor] = None
            continue
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning('pid %d ignored SIGTERM for %.1f s: SIGKILL to its process group', process.pid, grace)
            executor.signal_group(signal.SIGKILL)
            try:
                process.wait(KILL_WAIT)
            except subprocess.TimeoutExpired:  # uninterruptible (e.g. a hung driver): do not hang the shutdown
                log.error('pid %d did not end %.0f s after SIGKILL; leaving it', process.pid, KILL_WAIT)
                executor.unkillable = True
                codes[executor] = None
                continue
        executor.signal_group(signal.SIGKILL)  # children left behind by a leader that exited
        codes[executor] = process.returncode
        executor._finished()  # noqa: SLF001
    return codes


class ExecutorRegistry:
    """Makes, tracks and kills the executors of one node; holds only those started and not yet reaped."""

    def __init__(self, environ: Mapping[str, str] | None = None, pid_folder: Path | None = None) -> None:
        self.environ = environ
        self.pid_folder = pid_folder
        self._pid_files: dict[Executor, Path | None] = {}  # executor → its pid file
        self._lock = threading.Lock()

    def new(self, base_path: str | os.PathLike[str], log_name: str = DEFAULT_LOG_NAME) -> Executor:
        """An Executor in `base_path` (logging to `log_name`) with the node's environment, tracked from its start."""
        return Executor(base_path, log_name, environ=self.environ, registry=self)

    def running(self) -> list[Executor]:
        """The executors whose process has not exited."""
        return [e for e in self._tracked() if e.is_running()]

    def stop_all(self, grace: float = DEFAULT_GRACE) -> None:
        """SIGTERM to every group at once, one shared `grace`, then SIGKILL; reaps them (abort, shutdown).

        Also the groups of leaders that exited but were not reaped yet: their children die too.
        """
        stop_all(self._tracked(), grace)

    def kill_all(self) -> int:
        """SIGKILL every tracked group without waiting (before an `os._exit`); returns how many ran."""
        running = 0
        for executor in self._tracked():
            if executor.is_running():
                running += 1
                log.warning('killing process group %s of %s', executor.pid, executor.base_path)
            executor.signal_group(signal.SIGKILL)
        return running

    def kill_stale(self) -> int:
        """Kill the groups an earlier process of this node left running (it was killed -9); returns how many."""
        if self.pid_folder is None or not self.pid_folder.is_dir():
            return 0
        killed = 0
        for pid_file in self.pid_folder.iterdir():
            try:
                pid_text, _, started = pid_file.read_text().strip().partition(' ')
                pid = int(pid_text)
            except (OSError, ValueError):
                pid_file.unlink(missing_ok=True)
                continue
            if started and _start_time(pid) == started.split()[0]:
                log.warning('killing process group %d left behind by an earlier process of this node', pid)
                signal_group(pid, signal.SIGKILL)
                killed += 1
            pid_file.unlink(missing_ok=True)
        return killed

    # ---- called by Executor ---------------------------------------------------------------------------------

    def _tracked(self) -> list[Executor]:
        with self._lock:
            return list(self._pid_files)

    def _started(self, executor: Executor) -> None:
        pid = executor.pid
        assert pid is not None
        for done in [e for e in self._tracked() if e is not executor and e.return_code is not None]:
            done._finished()  # noqa: SLF001 - exited, never waited for: drop it, so the registry stays short
        pid_file = self._write_pid_file(pid)
        with self._lock:
            previous = self._pid_files.pop(executor, None)
            self._pid_files[executor] = pid_file
        if previous is not None and previous != pid_file:
            previous.unlink(missing_ok=True)

    def _finished(self, executor: Executor) -> None:
        with self._lock:
            pid_file = self._pid_files.pop(executor, None)
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)

    def _write_pid_file(self, pid: int) -> Path | None:
        if self.pid_folder is None:
            return None
        path = self.pid_folder / str(pid)
        try:
            self.pid_folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, f'{pid} {_start_time(pid) or ""}\n'.encode())
        except OSError as e:
            log.warning('could not write %s: %s', path, e)
            return None
        return path


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/pid/stat), which tells a reused pid apart."""
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        return None
