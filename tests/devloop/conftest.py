"""Fixtures of the devloop tests: one devloop per module (fast), reset before each test that wants it."""
from __future__ import annotations

from pathlib import Path

from loopnode.devloop import DevLoop
from tests.fixtures_devloop import devloop, loop, shared_loop  # noqa: F401 - the shared fixtures

DEMO = '/api/zauberzeug/projects/demo'


def data_dir(loop: DevLoop) -> Path:
    return loop.data_dir
