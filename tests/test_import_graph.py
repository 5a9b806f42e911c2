"""The modules of `loopnode` import each other without circles (issue 10).

Rule: every `import` / `from … import` anywhere in a module counts, also inside functions and under
`if TYPE_CHECKING:`, relative or absolute. `from pkg import name` is an edge to the submodule `pkg.name` when
that module exists, else to `pkg` (its `__init__`). Importing a submodule is not counted as importing its
parent package: Python runs the parent's `__init__` first, but a package `__init__` only re-exports names of
its own submodules, so that implicit step never closes a circle of real dependencies.
"""
from __future__ import annotations

import ast
from pathlib import Path

import loopnode

ROOT = Path(loopnode.__file__).resolve().parent
PACKAGE = 'loopnode'


def module_names() -> dict[str, Path]:
    """Dotted module name → file, for every .py file of the package."""
    names = {}
    for path in sorted(ROOT.rglob('*.py')):
        parts = list(path.relative_to(ROOT.parent).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts.pop()
        names['.'.join(parts)] = path
    return names


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute dotted name `from X import …` refers to, seen from `module` (defined in `path`)."""
    if node.level == 0:
        return node.module or ''
    package = module.split('.') if path.name == '__init__.py' else module.split('.')[:-1]
    base = package[:len(package) - (node.level - 1)]
    return '.'.join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that `module` imports (see the rule above)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, path, node)
            targets = [f'{source}.{alias.name}' if f'{source}.{alias.name}' in known else source
                       for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != module)
    return found


def import_graph() -> dict[str, set[str]]:
    names = module_names()
    known = set(names)
    return {module: imports_of(module, path, known) for module, path in names.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, …, a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_graph_sees_relative_and_type_checking_imports() -> None:
    """The parser finds the edges the rule names (else the cycle check would pass vacuously)."""
    graph = import_graph()
    assert 'loopnode.detector.node' in graph['loopnode.detector']
    assert 'loopnode.service.workers' in graph['loopnode.service.node']
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, 'import circle: ' + ' -> '.join(cycle or [])


def test_type_checking_import_counts(tmp_path: Path) -> None:
    """An import under `if TYPE_CHECKING:` and one inside a function are edges too."""
    path = tmp_path / 'mod.py'
    path.write_text('from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .node import X\n'
                    'def f():\n    from . import other\n')
    known = {'loopnode.pkg.node', 'loopnode.pkg.other', 'loopnode.pkg.mod'}
    assert imports_of('loopnode.pkg.mod', path, known) == {'loopnode.pkg.node', 'loopnode.pkg.other'}
