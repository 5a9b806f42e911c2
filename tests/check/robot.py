"""A robot's files for `loopnode check` tests: an env file, a unit, a data folder; plus running the check.

`Robot.run()` starts `python -m loopnode check` as a real subprocess; `snapshot()` records every file below
a folder (type, size, mode, mtime) so a test can show that the check wrote nothing.
"""
from __future__ import annotations

import io
import os
import pwd
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
MOCK_FACTORY = 'loopnode.detector:MockDetectorFactory'


def snapshot(root: Path) -> dict[str, tuple[str, int, int, int]]:
    """Every path below root with its kind, size, mode and mtime (symlinks not followed)."""
    entries: dict[str, tuple[str, int, int, int]] = {}
    for path in [root, *sorted(root.rglob('*'))]:
        info = path.lstat()
        kind = 'link' if path.is_symlink() else 'dir' if path.is_dir() else 'file'
        entries[str(path.relative_to(root))] = (kind, info.st_size if kind == 'file' else 0, info.st_mode,
                                                info.st_mtime_ns)
    return entries


@dataclass
class CheckRun:
    code: int
    lines: list[str]

    @property
    def failures(self) -> list[str]:
        return [line for line in self.lines if line.startswith('✖')]

    def line(self, start: str) -> str:
        """The one line starting with `start` (e.g. '✖ project')."""
        found = [line for line in self.lines if line.startswith(start)]
        assert len(found) == 1, f'expected one line starting {start!r} in:\n' + '\n'.join(self.lines)
        return found[0]


@dataclass
class Robot:
    """Files of a detector install below `root`, pointed at a devloop."""

    root: Path
    loop_url: str
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / 'data'
        self.env = {'LOOPNODE_LOGIC': MOCK_FACTORY, 'LOOP_HOST': self.loop_url, 'LOOP_ORGANIZATION': 'zauberzeug',
                    'LOOP_PROJECT': 'demo', 'NODE_PORT': '0', **self.env}
        self.write_unit()

    @property
    def env_file(self) -> Path:
        return self.root / 'detector.env'

    @property
    def unit_file(self) -> Path:
        return self.root / 'loopnode-detector.service'

    def write_env(self) -> None:
        lines = ['# written by the test, like /etc/loopnode/detector.env']
        lines += [f'{name}={value}' for name, value in self.env.items()]
        self.env_file.write_text('\n'.join(lines) + '\n', encoding='utf-8')

    def write_unit(self, user: str | None = None) -> None:
        """The shipped unit, with this venv's loopnode, a user that exists here and DATA_FOLDER below root."""
        text = (REPO / 'systemd' / 'loopnode-detector.service').read_text(encoding='utf-8')
        user = user or pwd.getpwuid(os.getuid()).pw_name
        replaced = {'ExecStart=/opt/loopnode/venv/bin/loopnode': f'ExecStart={Path(sys.executable).parent / "loopnode"}',
                    'User=loopnode': f'User={user}', 'SupplementaryGroups=video': '',
                    'Group=loopnode': '', 'ReadWritePaths=/var/lib/loopnode': f'ReadWritePaths={self.root}',
                    'Environment=DATA_FOLDER=/var/lib/loopnode/detector': f'Environment=DATA_FOLDER={self.data}',
                    'EnvironmentFile=/etc/loopnode/detector.env': f'EnvironmentFile={self.env_file}'}
        for old, new in replaced.items():
            assert old in text, old
            text = text.replace(old, new)
        self.unit_file.write_text(text, encoding='utf-8')

    def install_model(self, version: str = '1.1', model_format: str = 'mocked') -> None:
        """What a detector leaves after downloading `version`: models/<version>/ and current_model."""
        models = requests.get(f'{self.loop_url}/api/zauberzeug/projects/demo/models', timeout=10).json()['models']
        model_id = next(m['id'] for m in models if m['version'] == version)
        answer = requests.get(f'{self.loop_url}/api/zauberzeug/projects/demo/models/{model_id}/{model_format}/file',
                              timeout=10)
        assert answer.status_code == 200
        folder = self.data / 'models' / version
        folder.mkdir(parents=True)
        zipfile.ZipFile(io.BytesIO(answer.content)).extractall(folder)
        (self.data / 'current_model').symlink_to(Path('models') / version)

    def run(self, *args: str, extra_env: dict[str, str] | None = None) -> CheckRun:
        """`loopnode check` with this robot's env file (see `write_env`) and unit, from another folder."""
        environ = {'PATH': os.environ.get('PATH', ''), 'LANG': 'C.UTF-8', 'PYTHONIOENCODING': 'utf-8',
                   **(extra_env or {})}
        result = subprocess.run(
            [sys.executable, '-m', 'loopnode', 'check', '--env', str(self.env_file), '--unit', str(self.unit_file),
             *args], cwd=self.root.parent, env=environ, capture_output=True, text=True, timeout=60)
        assert not result.stderr.strip(), result.stderr
        return CheckRun(result.returncode, result.stdout.splitlines())
