"""Pytest plugin with the `devloop` fixture: a started devloop (seed demo) on a free port in a tmp data dir.

Import it from a conftest (`from tests.fixtures_devloop import devloop`) or list it in `pytest_plugins`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from loopnode.devloop import DevLoop


@pytest.fixture
def devloop(tmp_path: Path) -> Iterator[DevLoop]:
    """A started DevLoop (auth open, seed demo); `devloop.url` is its base URL. Stopped and joined afterwards."""
    loop = DevLoop(tmp_path / 'devloop')
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()
