"""`loopnode demo`: devloop and all four nodes with the example logics, in one process.

Starts devloop (seed `demo` plus the examples' formats, data in `<data>/devloop`) and the example detector
(port 8004, format `color_blobs_lut`), converter (`color_blobs` → `color_blobs_lut`), annotator (magic wand)
and trainer (colour model) on the next free ports (data in `<data>/<node type>`), waits until the detector
serves, writes a generated sample JPEG and logs the cycle to try with curl; runs until SIGTERM/SIGINT, then
stops the nodes and devloop in order (exit 0; 1 if something could not start). With `--cycle` it runs the
cycle itself (`cycle.py`) and exits 0 only when the detector serves the newly trained model correctly.
"""
from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from ..devloop import DEMO_ORG, DEMO_PROJECT, DevLoop
from ..devloop.seed import generated_images
from ..exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from ..logs import setup_logging
from .cycle import Cycle, CycleError
from .guide import guide_lines, node_lines
from .nodes import PORT_ORDER, DemoNodes

log = logging.getLogger(__name__)

READY_TIMEOUT = 120.0
SAMPLE_SEED = 4242


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='loopnode demo', description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1', help='bind address of all servers (default 127.0.0.1)')
    parser.add_argument('--loop-port', type=int, default=8000, help='devloop port, 0 = free (default 8000)')
    parser.add_argument('--port', type=int, default=8004,
                        help='detector port; the other nodes take the next free ones; 0 = any free (default 8004)')
    parser.add_argument('--data', type=Path, default=Path('demo-data'),
                        help='folder for devloop/, the nodes\' folders and sample.jpg (default ./demo-data)')
    parser.add_argument('--cycle', action='store_true',
                        help='run the whole cycle by itself and exit: 0 when the new model serves correctly')
    parser.add_argument('--log-level', default='INFO', choices=('DEBUG', 'INFO', 'WARNING', 'ERROR'),
                        help="level of loopnode's loggers (default INFO)")
    return parser


def write_sample(path: Path, loop: DevLoop) -> Path:
    """A generated 640x480 JPEG with shapes of the demo categories (the same every time)."""
    categories = loop.store.categories(DEMO_ORG, DEMO_PROJECT)
    image = generated_images(DEMO_ORG, DEMO_PROJECT, categories, {'inbox': 1}, seed=SAMPLE_SEED)[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image.jpeg)
    return path.resolve()


def _wait_ready(node: Any, demo: DemoNodes, stop: threading.Event, timeout: float) -> bool:
    """Wait until the detector serves a model (True), or stop/timeout/a node exit request (False)."""
    deadline = time.monotonic() + timeout
    while node.readiness_reason() is not None:
        if stop.wait(0.1) or demo.exit_requested() is not None:
            return False
        if time.monotonic() >= deadline:
            log.error('the detector did not load a model within %.0f s: %s', timeout, node.readiness_reason())
            return False
    return True


def _announce(sample: Path, demo: DemoNodes) -> None:
    detector = demo.nodes['detector']
    info = detector.model_manager.slot.active_info
    log.info('demo ready: detector %s serves model %s of devloop %s', detector.url,
             info.version if info else '?', demo.loop_url)
    for line in node_lines(demo.loop_url, {t: demo.nodes[t] for t in PORT_ORDER if t in demo.nodes}):
        log.info('  %s', line)
    trainer = demo.nodes.get('trainer')
    for line in guide_lines(sample, demo.loop_url, {t: n.url for t, n in demo.nodes.items()},
                            trainer.uuid if trainer is not None else None):
        log.info('%s', line)
    log.info('stop with Ctrl-C')


def run(args: argparse.Namespace, stop: threading.Event) -> int:
    """Start devloop and the nodes, serve (or run the cycle) until `stop`, then stop all; returns the exit code."""
    demo = DemoNodes(args.data, args.host, args.loop_port, args.port, args.log_level)
    try:
        try:
            demo.start()
        except OSError as e:
            log.error('the demo cannot start: %s', e)
            return EXIT_FAILURE
        if 'detector' not in demo.nodes:
            log.error('the detector cannot run: %s', demo.missing.get('detector'))
            return EXIT_FAILURE
        assert demo.loop is not None
        sample = write_sample(args.data / 'sample.jpg', demo.loop)
        if args.cycle:
            return _run_cycle(demo, stop)
        if _wait_ready(demo.nodes['detector'], demo, stop, READY_TIMEOUT):
            _announce(sample, demo)
        while not stop.is_set() and demo.exit_requested() is None:
            stop.wait(0.5)
        if stop.is_set():
            return EXIT_OK
        node = demo.exit_requested()
        return node.exit_code or EXIT_FAILURE
    finally:
        log.info('stopping the demo')
        demo.stop()


def _run_cycle(demo: DemoNodes, stop: threading.Event) -> int:
    try:
        Cycle(demo, stop).run()
    except CycleError as e:
        log.error('cycle failed: %s', e)
        return EXIT_FAILURE
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """Entry point of `loopnode demo`; `stop` replaces the signal handlers (tests run it in a thread)."""
    args = build_parser().parse_args(list(argv or []))
    setup_logging(args.log_level)
    for port in (args.loop_port, args.port):
        if not 0 <= port <= 65535:
            log.error('invalid port %s: expected an integer in [0, 65535]', port)
            return EXIT_USAGE
    if stop is not None:
        return run(args, stop)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info('received %s', signal.Signals(signum).name)
        # set from a short thread: Event.set here could re-enter the lock of the wait this signal interrupted
        threading.Thread(target=stop.set, name='demo-signal').start()
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return run(args, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
