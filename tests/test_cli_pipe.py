"""`loopnode check | head`: a reader that closes the pipe early ends the command quietly with 141, no traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopnode.cli import _stdout_is_broken
from loopnode.exits import EXIT_BROKEN_PIPE
from tests.helpers import free_port


def run_into_closed_pipe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `python -m loopnode ARGS` with standard output a real pipe whose reading end is already closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `head` after its lines: every write now fails with EPIPE
    try:
        return subprocess.run([sys.executable, '-m', 'loopnode', *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, env=env, timeout=60)
    finally:
        os.close(write_end)


def node_env(tmp_path: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith(('LOOP_', 'NODE_', 'LOOPNODE_'))}
    return values | {'DATA_FOLDER': str(tmp_path / 'data'), 'LOOP_HOST': f'http://127.0.0.1:{free_port()}',
                     'LOOP_ORGANIZATION': 'o', 'LOOP_PROJECT': 'p'}


def test_check_into_a_closed_pipe_exits_141_without_a_traceback(tmp_path: Path) -> None:
    result = run_into_closed_pipe('check', '--no-unit', 'detector', env=node_env(tmp_path))
    assert result.returncode == EXIT_BROKEN_PIPE, result.stderr
    assert 'Traceback' not in result.stderr and 'BrokenPipeError' not in result.stderr, result.stderr


def test_help_into_a_closed_pipe_ends_without_a_traceback(tmp_path: Path) -> None:
    """argparse itself ignores the failed write of a help text (exit 0); nothing may fail at exit either."""
    for args in (['--help'], ['check', '--help'], ['loop', '--help']):
        result = run_into_closed_pipe(*args, env=node_env(tmp_path))
        assert result.returncode in (0, EXIT_BROKEN_PIPE), (args, result.stderr)
        assert 'Traceback' not in result.stderr and 'Exception ignored' not in result.stderr, result.stderr


def test_check_into_a_pipe_read_to_the_end_keeps_its_exit_code(tmp_path: Path) -> None:
    """The Loop is down, so the check fails: exit 1, and its output is all there."""
    result = subprocess.run([sys.executable, '-m', 'loopnode', 'check', '--no-unit', 'detector'], capture_output=True,
                            text=True, env=node_env(tmp_path), timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith('checks failed')


def test_only_a_broken_standard_output_counts_as_the_reader_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A BrokenPipeError from another pipe or socket stays an error: 141 is for standard output's reader gone."""
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, 'w') as stdout:
        monkeypatch.setattr(sys, 'stdout', stdout)
        assert not _stdout_is_broken()  # its reader is still there
        os.close(read_end)
        assert _stdout_is_broken()
        monkeypatch.undo()
