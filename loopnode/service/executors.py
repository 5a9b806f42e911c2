"""ExecutorRegistry: the executors of one node (trainer.md §7), owned by its NodeService as `node.executors`.

Executors made with `new()` start from the environment the node's Settings were loaded from. The registry
knows which of them run, so the node can stop them all (abort, shutdown) or SIGKILL them before an
`os._exit`. While one runs, `<pid> <start time>` of its group is in `pid_folder/<pid>`; a node restarted
after a kill -9 calls `kill_stale()` at start and kills the groups its dead predecessor left behind. The
start time (field 22 of /proc/<pid>/stat) tells a reused pid apart, so an unrelated process is never hit.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Mapping

from ..fsutil import atomic_write_bytes
from .executor import DEFAULT_GRACE, DEFAULT_LOG_NAME, Executor, signal_group, stop_all

log = logging.getLogger(__name__)


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
