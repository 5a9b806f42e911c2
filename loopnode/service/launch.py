"""`loopnode <type> --logic pkg.module:name`, shared by the four node types: check the logic, build, run.

Each node type says what its logic must be (`resolve`: the usable logic, or ValueError naming what is wrong)
and how its node is made (`build`); the exit codes are the same for all: 2 for a missing or wrong `--logic`,
1 when the node cannot be created, else the node's own exit code.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Protocol, TypeVar

from ..exits import EXIT_FAILURE, EXIT_USAGE

log = logging.getLogger(__name__)

L = TypeVar('L')


class Runnable(Protocol):
    def run(self) -> int: ...


def run_logic_node(node_type: str, logic: Any, *, wanted: str, example: str,
                   resolve: Callable[[Any], L], build: Callable[[L], Runnable]) -> int:
    """Run the node `build(resolve(logic))` until it ends; returns the process exit code.

    `wanted` names what `--logic` must name (e.g. 'a ConverterLogic'), `example` a spec that works.
    """
    if logic is None:
        log.error('loopnode %s needs --logic pkg.module:name naming %s (e.g. %s)', node_type, wanted, example)
        return EXIT_USAGE
    try:
        resolved = resolve(logic)
    except ValueError as e:
        log.error('%s', e)
        return EXIT_USAGE
    try:
        node = build(resolved)
    except Exception:
        log.exception('the %s could not be created', node_type)
        return EXIT_FAILURE
    return node.run()
