"""Executor: one external program in its own process group, logging to a file (trainer.md §7).

Used by logics that run external tools (a TensorRT build, a training script). The child calls `setsid`, so
`stop()` can end the whole group: SIGTERM, `grace` seconds, then SIGKILL. `stop_all()` stops many
executors with one shared deadline. Every executor still running at interpreter exit is killed by an
`atexit` hook (and by `NodeService.run` before an `os._exit`, which skips atexit), so no GPU process outlives
its node.
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
from typing import IO, Iterable, Mapping, Sequence

log = logging.getLogger(__name__)

_RUNNING: 'weakref.WeakSet[Executor]' = weakref.WeakSet()
_RUNNING_LOCK = threading.Lock()


class Executor:
    """Runs one command at a time in `base_path` with stdout and stderr appended to `base_path/log_name`."""

    def __init__(self, base_path: str | os.PathLike[str], log_name: str = 'last_training.log') -> None:
        self.base_path = Path(base_path)
        self.base_path.mkdir(parents=True, exist_ok=True)
        self.log_path = self.base_path / log_name
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._lock = threading.Lock()

    def start(self, cmd: str | Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Start `cmd` (a list, or a string split shell-style; no shell) in a new process group."""
        argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                raise RuntimeError(f'executor in {self.base_path} is already running')
            self._close_log()
            self._log_file = open(self.log_path, 'ab')  # noqa: SIM115 - closed in wait()/stop()
            try:
                self._process = subprocess.Popen(argv, cwd=self.base_path, env={**os.environ, **(env or {})},
                                                 stdin=subprocess.DEVNULL, stdout=self._log_file,
                                                 stderr=subprocess.STDOUT, start_new_session=True)
            except BaseException:  # e.g. the program does not exist: no log file left open
                self._close_log()
                raise
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        log.info('started %s (pid %d) in %s', argv[0], self._process.pid, self.base_path)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def signal_group(self, signum: int) -> None:
        """Send `signum` to the process group (nothing if it is gone)."""
        if self._process is None:
            return
        pid = self._process.pid
        if self._process.returncode is not None and _pid_in_use(pid):
            # the leader was reaped; while members of its group live, the kernel does not hand its pid out
            # again, so a process with that pid now is another one (maybe leading its own group): leave it
            return
        try:
            os.killpg(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM to the group, wait up to `grace` s, then SIGKILL to the group; returns the exit code."""
        return stop_all([self], grace).get(self)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit (raises subprocess.TimeoutExpired after `timeout`), close the log, return the code."""
        if self._process is None:
            return None
        code = self._process.wait(timeout)
        self._finished()
        return code

    def get_log(self) -> str:
        if not self.log_path.exists():
            return ''
        return self.log_path.read_text(errors='replace')

    def get_log_by_lines(self, tail: int | None = None) -> list[str]:
        lines = self.get_log().splitlines()
        return lines if tail is None else lines[-tail:] if tail > 0 else []

    def _finished(self) -> None:
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        with self._lock:
            self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _pid_in_use(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


KILL_WAIT = 5.0  # s after SIGKILL before giving up on a process in uninterruptible sleep


def stop_all(executors: Iterable[Executor], grace: float = 10.0) -> dict[Executor, int | None]:
    """Stop every executor: SIGTERM to all groups, one shared `grace` deadline, SIGKILL to the rest; reap all."""
    executors = list(executors)
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
            log.warning('pid %d ignored SIGTERM for %.0f s: SIGKILL to its process group', process.pid, grace)
            executor.signal_group(signal.SIGKILL)
            try:
                process.wait(KILL_WAIT)
            except subprocess.TimeoutExpired:  # uninterruptible (e.g. a hung driver): do not hang the shutdown
                log.error('pid %d did not end %.0f s after SIGKILL; leaving it', process.pid, KILL_WAIT)
                codes[executor] = None
                continue
        executor.signal_group(signal.SIGKILL)  # children left behind by a leader that exited
        codes[executor] = process.returncode
        executor._finished()  # noqa: SLF001
    return codes


@atexit.register
def kill_leftovers() -> None:
    """SIGKILL the group of every executor still running (at interpreter exit, and before an `os._exit`)."""
    with _RUNNING_LOCK:
        leftovers = list(_RUNNING)
    for executor in leftovers:
        executor.signal_group(signal.SIGKILL)
