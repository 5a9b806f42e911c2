"""Fixtures of the devloop tests: one devloop per module (fast), reset before each test that wants it."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests

from loopnode.devloop import DevLoop
from tests.fixtures_devloop import devloop  # noqa: F401 - the shared fixture, also used here

DEMO = '/api/zauberzeug/projects/demo'


@pytest.fixture(scope='module')
def shared_loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevLoop]:
    loop = DevLoop(tmp_path_factory.mktemp('devloop'))
    loop.start()
    yield loop
    loop.stop()


@pytest.fixture
def loop(shared_loop: DevLoop) -> DevLoop:
    """The module's devloop, reset to the demo seed (no faults, empty request log)."""
    requests.post(shared_loop.url + '/admin/reset', timeout=10).raise_for_status()
    return shared_loop


def data_dir(loop: DevLoop) -> Path:
    return loop.data_dir
