"""A `loopnode trainer` subprocess for the tests that need real signals, exit codes and kill -9."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from tests.helpers import free_port, until


class TrainerProcess:
    """`python -m loopnode trainer --logic …` with its own data folder and port; its log goes to a file."""

    def __init__(self, data: Path, loop_url: str, *, logic: str = 'loopnode.trainer:MockTrainerLogic',
                 name: str = 'process trainer', **env: str) -> None:
        self.data, self.loop_url, self.logic, self.name = data, loop_url, logic, name
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(('LOOP_', 'NODE_', 'NOTIFY_'))}
        self.env.update({'DATA_FOLDER': str(data), 'LOOP_HOST': loop_url, 'NODE_PORT': str(self.port),
                         'LOOP_POLL_INTERVAL': '0.2', 'SHUTDOWN_GRACE_SEC': '5', 'PYTHONUNBUFFERED': '1', **env})
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data.parent / f'{data.name}-trainer.log'

    def start(self) -> 'TrainerProcess':
        self.data.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, 'ab')  # noqa: SIM115 - handed to the child
        try:
            self.process = subprocess.Popen([sys.executable, '-m', 'loopnode', 'trainer', '--logic', self.logic,
                                             '--name', self.name], env=self.env, stdout=log, stderr=log)
        finally:
            log.close()
        until(self.status, timeout=20, message='trainer process serving /status')
        return self

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @property
    def uuid(self) -> str:
        return json.loads((self.data / 'uuids.json').read_text())[self.name.lower().replace(' ', '_')]

    def status(self) -> dict[str, Any] | None:
        try:
            return requests.get(f'{self.url}/status', timeout=2).json()
        except (requests.RequestException, ValueError):
            return None

    def state(self) -> str | None:
        status = self.status()
        return status['node']['state'] if status else None

    def record(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.data / f'last_training__{self.uuid}.json').read_text())
        except FileNotFoundError:
            return None

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''


def children_of(pid: int) -> list[int]:
    """Pids of processes whose parent is `pid` (from /proc)."""
    result = []
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
            except (FileNotFoundError, IndexError):
                continue
            if int(fields[1]) == pid:
                result.append(int(entry.name))
    return result


def mock_training_processes(data: Path) -> list[int]:
    """Pids of mock training loops whose cwd is under `data` (to find orphans after kill -9)."""
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / 'cmdline').read_bytes().replace(b'\0', b' ')
            cwd = os.readlink(entry / 'cwd')
        except (FileNotFoundError, PermissionError, ProcessLookupError, OSError):
            continue
        if b'mock training iteration' in cmdline and cwd.startswith(str(data)):
            found.append(int(entry.name))
    return found


def kill_group_leftovers(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
