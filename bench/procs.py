"""Processes under test: devloop, loopnode's detector, upstream's detector; their RSS and CPU time from /proc."""
from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import requests

log = logging.getLogger('bench.procs')

ROOT = Path(__file__).resolve().parents[1]
LOOPNODE_PYTHON = ROOT / '.venv' / 'bin' / 'python'
UPSTREAM_PYTHON = ROOT / '.venv-upstream' / 'bin' / 'python'
ORG, PROJECT = 'zauberzeug', 'demo'
MODEL_VERSION, MODEL_ID = '1.1', '00000000-0000-0000-0000-000000000011'
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
PAGE_KIB = os.sysconf('SC_PAGE_SIZE') // 1024


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / 'stat').read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(')', 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_mib(pid: int) -> float:
    """Resident set size of the process tree, MiB."""
    total = 0
    for p in _tree(pid):
        try:
            total += int(Path(f'/proc/{p}/statm').read_text().split()[1]) * PAGE_KIB
        except (OSError, IndexError):
            pass
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by the process tree."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f'/proc/{p}/stat').read_text().rsplit(')', 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / CLOCK_TICKS


@dataclass
class Proc:
    """A started subprocess with its log file; `stop()` sends SIGTERM, then SIGKILL after `grace`."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path = ROOT
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    url: str = ''
    extra: dict[str, str] = field(default_factory=dict)

    def start(self) -> 'Proc':
        with self.log_path.open('ab') as out:
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=out,
                                            stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            log.warning('%s did not stop within %.0f s; killing it', self.name, grace)
            self.process.kill()
            self.process.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])


def base_env() -> dict[str, str]:
    """A minimal environment for children (no inherited settings that could change what is measured)."""
    return {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': os.environ.get('HOME', '/tmp'),
            'LANG': 'C.UTF-8'}


def devloop(port: int, data: Path, log_path: Path) -> Proc:
    env = dict(base_env(), DEVLOOP_PORT=str(port), DEVLOOP_DATA=str(data), LOG_LEVEL='WARNING')
    proc = Proc('devloop', [str(LOOPNODE_PYTHON), '-m', 'loopnode', 'loop'], env, log_path)
    proc.url = f'http://127.0.0.1:{port}'
    return proc


def loopnode_detector(port: int, data: Path, loop_port: int, log_path: Path, patches: str = '',
                      extra_env: dict[str, str] | None = None) -> Proc:
    """loopnode's detector; `patches` (comma separated) runs it through bench/patched_loopnode.py."""
    env = dict(base_env(), **(extra_env or {}), PYTHONPATH=f'{ROOT / "bench"}:{ROOT / "compat"}', DATA_FOLDER=str(data),
               LOOP_HOST=f'http://127.0.0.1:{loop_port}', LOOP_ORGANIZATION=ORG, LOOP_PROJECT=PROJECT,
               NODE_NAME='bench-loopnode')
    launcher = [str(ROOT / 'bench' / 'patched_loopnode.py'), '--patches', patches] if patches else ['-m', 'loopnode']
    argv = [str(LOOPNODE_PYTHON), *launcher, 'detector', '--logic', 'loopnode_logic:FixedLogicFactory',
            '--port', str(port)]
    proc = Proc('loopnode', argv, env, log_path)
    proc.url = f'http://127.0.0.1:{port}'
    return proc


def upstream_detector(port: int, data: Path, loop_port: int, log_path: Path) -> Proc:
    env = dict(base_env(), DATA_FOLDER=str(data), LOOP_HOST=f'127.0.0.1:{loop_port}', LOOP_ORGANIZATION=ORG,
               LOOP_PROJECT=PROJECT)
    argv = [str(UPSTREAM_PYTHON), str(ROOT / 'compat' / 'run_upstream_detector.py'), '--port', str(port),
            '--name', 'bench-upstream', '--log-level', 'warning']
    proc = Proc('upstream', argv, env, log_path)
    proc.url = f'http://127.0.0.1:{port}'
    return proc


Starter = Callable[[int, Path, int, Path], Proc]


def fetch_model_zip(loop_url: str) -> bytes:
    """The demo target model (1.1, format mocked) as devloop serves it."""
    response = requests.get(f'{loop_url}/api/{ORG}/projects/{PROJECT}/models/{MODEL_ID}/mocked/file', timeout=30)
    response.raise_for_status()
    return response.content


def prepare_data(folder: Path, model_zip: bytes) -> Path:
    """A data folder with the model on disk: models/1.1/ (flat) and the relative `current_model` link."""
    model_dir = folder / 'models' / MODEL_VERSION
    model_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(model_zip)) as archive:
        for member in archive.infolist():
            if not member.is_dir():
                (model_dir / Path(member.filename).name).write_bytes(archive.read(member))
    (folder / 'current_model').symlink_to(Path('models') / MODEL_VERSION)
    return folder


def wait_http(url: str, timeout: float = 30.0, proc: Proc | None = None) -> None:
    """Wait until GET url answers 200 (fails early if `proc` died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f'{proc.name} exited:\n{proc.log_tail()}')
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise RuntimeError(f'{url} not ready within {timeout} s' + (f':\n{proc.log_tail()}' if proc else ''))
