"""`loopnode annotator`: usage errors exit 2 before anything starts."""
from __future__ import annotations

from pathlib import Path

import pytest

from loopnode.cli import main


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('DATA_FOLDER', str(tmp_path / 'data'))
    monkeypatch.setenv('LOOP_HOST', 'http://127.0.0.1:9')


def test_without_logic_exits_2() -> None:
    assert main(['annotator']) == 2


def test_a_logic_without_the_hooks_exits_2() -> None:
    assert main(['annotator', '--logic', 'loopnode.annotator.frontends:IDLE_TIMEOUT']) == 2
    assert main(['annotator', '--logic', 'loopnode.annotator:nothing']) == 2
