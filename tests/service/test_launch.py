"""run_logic_node: the shared `loopnode <type> --logic` runner maps each outcome to its exit code."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from loopnode.exits import EXIT_FAILURE, EXIT_USAGE
from loopnode.service.launch import run_logic_node


class Node:
    def __init__(self, logic: Any) -> None:
        self.logic = logic

    def run(self) -> int:
        return 75 if self.logic == 'restart' else 0


def picky(logic: Any) -> str:
    if not isinstance(logic, str):
        raise ValueError(f'{logic!r} is not a string logic')
    return logic


def run(logic: Any, build: Any = Node) -> int:
    return run_logic_node('thing', logic, wanted='a string', example='pkg:Thing', resolve=picky, build=build)


def test_missing_or_wrong_logic_is_a_usage_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    assert run(None) == EXIT_USAGE
    assert 'loopnode thing needs --logic pkg.module:name naming a string (e.g. pkg:Thing)' in caplog.text
    assert run(3) == EXIT_USAGE
    assert '3 is not a string logic' in caplog.text


def test_a_node_that_cannot_be_built_is_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_logic: str) -> Node:
        raise RuntimeError('no GPU')
    assert run('x', broken) == EXIT_FAILURE
    assert 'the thing could not be created' in caplog.text and 'no GPU' in caplog.text


def test_the_node_s_own_exit_code_is_returned() -> None:
    assert run('ok') == 0
    assert run('restart') == 75
