"""Pytest plugin with devloop fixtures: `devloop`, a started devloop (seed demo) on a free port in a tmp data
dir, per test; `shared_loop`, one per module, and `loop`, that one reset to its seed before the test (fast).

Import them from a conftest (`from tests.fixtures_devloop import devloop`) or list it in `pytest_plugins`.
A module that needs other seed hooks defines its own `shared_loop`; `loop` then resets that one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests

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


@pytest.fixture(scope='module')
def shared_loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevLoop]:
    """One started devloop (seed demo) for all tests of a module."""
    loop = DevLoop(tmp_path_factory.mktemp('devloop'))
    loop.start()
    yield loop
    loop.stop()


@pytest.fixture
def loop(shared_loop: DevLoop) -> DevLoop:
    """The module's devloop, reset to its seed (no faults, empty request log)."""
    requests.post(shared_loop.url + '/admin/reset', timeout=10).raise_for_status()
    return shared_loop
