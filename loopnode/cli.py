"""The `loopnode` command (also `python -m loopnode`): detector | trainer | annotator | converter | loop | demo | check."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import logging
import os
import select
import sys
from typing import Any, Callable, Sequence

from .errors import ConfigError
from .exits import EXIT_BROKEN_PIPE, EXIT_CONFIG, EXIT_USAGE
from .logs import setup_logging
from .service.memory import limit_malloc_arenas
from .settings import Settings

log = logging.getLogger('loopnode.cli')

NODE_COMMANDS = ('detector', 'trainer', 'annotator', 'converter')


def load_object(spec: str) -> Any:
    """Resolve `pkg.module:name`; a class or function is called without arguments to make the instance."""
    module_name, sep, attr = spec.partition(':')
    if not sep or not module_name or not attr:
        raise ValueError(f'--logic must look like pkg.module:name, got {spec!r}')
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f'cannot import {module_name!r}: {e}') from None
    obj: Any = module
    for part in attr.split('.'):
        if not hasattr(obj, part):
            raise ValueError(f'{module_name!r} has no attribute {attr!r}')
        obj = getattr(obj, part)
    if not (isinstance(obj, type) or inspect.isfunction(obj)):
        return obj  # an instance (even one with __call__) is used as it is
    try:
        inspect.signature(obj).bind()
    except TypeError as e:
        raise ValueError(f'--logic {spec} must be callable without arguments: {e}') from None
    except ValueError:
        pass  # no signature to check (a builtin type): just call it
    return obj()


def article(word: str) -> str:
    """`a` or `an` before `word` (by its first letter, enough for the node names)."""
    return 'an' if word[:1].lower() in 'aeiou' else 'a'


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='loopnode', description='Learning Loop nodes and the devloop emulator.')
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for name in NODE_COMMANDS:
        sub = commands.add_parser(name, help=f'run {article(name)} {name} node')
        sub.add_argument('--logic', help='pkg.module:name of the logic (the factory, for the detector)')
        sub.add_argument('--name', help='node name (NODE_NAME overrides it)')
        sub.add_argument('--port', type=int, help='local port (overrides NODE_PORT)')
    commands.add_parser('loop', help='run devloop, the local Learning Loop emulator (see `loopnode loop --help`)')
    commands.add_parser('demo', help='run devloop and the four example nodes; --cycle runs the whole loop '
                                     '(see `loopnode demo --help`)')
    commands.add_parser('check', help='check a node\'s env file and what it needs, changing nothing (see `loopnode check --help`)')
    return parser


def node_settings(node_type: str, port: int | None) -> Settings:
    settings = Settings.from_env(node_type=node_type)
    if port is not None:
        if not 0 <= port <= 65535:
            raise ConfigError('--port', port, 'an integer in [0, 65535]')
        settings = dataclasses.replace(settings, node_port=port)
    return settings


def run_node(node_type: str, args: argparse.Namespace) -> int:
    """Build settings (exit 78 on error), load the logic, run the node and return its exit code."""
    try:
        settings = node_settings(node_type, args.port)
    except ConfigError as e:
        log.error('%s', e)
        return EXIT_CONFIG
    setup_logging(settings.log_level, journal=settings.journal_stream)
    limit_malloc_arenas()
    try:
        logic = load_object(args.logic) if args.logic else None
    except ValueError as e:
        log.error('%s', e)
        return EXIT_USAGE
    runner = _node_runner(node_type)
    if runner is None:
        log.error('loopnode %s is not implemented yet', node_type)
        return EXIT_USAGE
    return runner(settings, logic, args.name)


def _node_runner(node_type: str) -> Callable[[Settings, Any, str | None], int] | None:
    """The `run(settings, logic, name) -> exit code` function of a node type, if that type exists yet."""
    try:
        module = importlib.import_module(f'loopnode.{node_type}.node')
    except ModuleNotFoundError:
        return None
    return getattr(module, 'run_from_cli', None)


def _delegate(module_name: str, rest: Sequence[str]) -> int:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        log.error('%s is not implemented yet', module_name)
        return EXIT_USAGE
    return int(module.main(list(rest)))


DELEGATED = {'loop': 'loopnode.devloop.cli', 'demo': 'loopnode.demo', 'check': 'loopnode.check.command'}


def main(argv: Sequence[str] | None = None) -> int:
    setup_logging('INFO')
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:  # these parse their own flags
        return _delegate(DELEGATED[argv[0]], argv[1:])
    args = build_parser().parse_args(argv)
    return run_node(args.command, args)


def entry_point() -> None:
    """The console script: `main()`'s exit code; 141, quietly, when standard output was closed early."""
    try:
        try:
            code = main()
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
    except BrokenPipeError:  # `loopnode check | head`: the reader has all it wanted
        if not _stdout_is_broken():  # another pipe or socket broke: a real error, with its traceback
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail again
        code = EXIT_BROKEN_PIPE
    sys.exit(code)


def _stdout_is_broken() -> bool:
    """Whether standard output is a pipe (or socket) whose reader has gone: poll reports an error on it."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False
