"""`loopnode loop`: run devloop until SIGTERM/SIGINT (defaults from DEVLOOP_* via `DevLoopSettings`)."""
from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import Any, Sequence

from loopnode.errors import ConfigError
from loopnode.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from loopnode.logs import setup_logging
from loopnode.settings import DevLoopSettings

from .auth import AUTH_MODES, parse_users
from .seed import SEEDS
from .seed_examples import example_seed_hooks
from .server import DevLoop

log = logging.getLogger(__name__)

def build_parser(defaults: DevLoopSettings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='loopnode loop', description='devloop: a local Learning Loop emulator')
    parser.add_argument('--host', default=defaults.host, help=f'bind address (default {defaults.host})')
    parser.add_argument('--port', type=int, default=defaults.port, help=f'bind port, 0 = free (default {defaults.port})')
    parser.add_argument('--data', type=Path, default=defaults.data, help=f'state folder (default {defaults.data})')
    parser.add_argument('--seed', choices=SEEDS, default=defaults.seed, help='content of a new data folder')
    parser.add_argument('--auth', choices=AUTH_MODES, default=defaults.auth, help='login mode')
    parser.add_argument('--users', default=defaults.users, help='user:password,… for --auth strict')
    return parser


def main(argv: Sequence[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """Run devloop until a signal (or `stop`, for tests) arrives; exit code 0, 78 on a configuration error."""
    try:
        defaults = DevLoopSettings.from_env()
    except ConfigError as e:
        setup_logging('INFO')
        log.error('%s', e)
        return EXIT_CONFIG
    setup_logging(defaults.log_level)
    args = build_parser(defaults).parse_args(list(argv or []))
    if not 0 <= args.port <= 65535:
        log.error('invalid setting --port=%s: expected an integer in [0, 65535]', args.port)
        return EXIT_CONFIG
    try:
        parse_users(args.users)
    except ValueError as e:
        log.error('invalid setting --users: %s', e)
        return EXIT_CONFIG
    stop = stop or threading.Event()
    previous = _install_signal_handlers(stop)
    hooks = example_seed_hooks() if args.seed == 'demo' else ()  # the demo also serves format color_blobs
    loop = DevLoop(args.data, auth=args.auth, users=args.users, seed=args.seed, seed_hooks=hooks)
    try:
        try:
            url = loop.start(args.host, args.port)
        except OSError as e:
            log.error('%s', e)
            return EXIT_FAILURE
        log.info('devloop ready at %s (LOOP_HOST=%s); admin API at %s/admin', url, url, url)
        while not stop.wait(1.0):
            pass
        log.info('stopping devloop')
        loop.stop()
        return EXIT_OK
    finally:
        loop.stop()
        _restore_signal_handlers(previous)


def _install_signal_handlers(stop: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def on_signal(signum: int, _frame: Any) -> None:
        log.info('received %s', signal.Signals(signum).name)
        stop.set()
    return {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
