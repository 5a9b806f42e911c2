"""`loopnode demo` / `make demo`: devloop with the demo project and the example colour detector, together.

Starts devloop (seed `demo` plus the `color_blobs` format, data in `<data>/devloop`) and a detector with
`loopnode.examples.color_detector:ColorBlobsFactory` (data in `<data>/detector`) that follows the demo project's
deployment target, waits until the detector serves, writes a generated sample JPEG, logs the curl commands to
try, and runs until SIGTERM/SIGINT. Both stop cleanly; the exit code is 0 (1 if something could not start).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from .devloop import DEMO_ORG, DEMO_PROJECT, DevLoop
from .devloop.seed import generated_images
from .devloop.seed_examples import color_blobs_hook, example_seed_hooks
from .logs import setup_logging
from .settings import Settings

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
READY_TIMEOUT = 120.0
SAMPLE_SEED = 4242
EXAMPLE_FACTORY = 'loopnode.examples.color_detector:ColorBlobsFactory'


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='loopnode demo', description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1', help='bind address of both servers (default 127.0.0.1)')
    parser.add_argument('--loop-port', type=int, default=8000, help='devloop port, 0 = free (default 8000)')
    parser.add_argument('--port', type=int, default=8004, help='detector port, 0 = free (default 8004)')
    parser.add_argument('--data', type=Path, default=Path('demo-data'),
                        help='folder for devloop/, detector/ and sample.jpg (default ./demo-data)')
    parser.add_argument('--log-level', default='INFO', choices=('DEBUG', 'INFO', 'WARNING', 'ERROR'),
                        help="level of loopnode's loggers (default INFO)")
    return parser


def example_factory() -> Any:
    """The example colour detector's factory (the folder `examples/`, installed as `loopnode.examples`)."""
    module_name, _, attr = EXAMPLE_FACTORY.partition(':')
    return getattr(importlib.import_module(module_name), attr)()


def detector_settings(data: Path, loop_url: str, host: str, port: int, log_level: str) -> Settings:
    """Detector settings of the demo (not read from the environment: the demo is self-contained)."""
    return Settings.from_env({'DATA_FOLDER': str(data), 'LOOP_HOST': loop_url, 'LOOP_ORGANIZATION': DEMO_ORG,
                              'LOOP_PROJECT': DEMO_PROJECT, 'NODE_HOST': host, 'NODE_PORT': str(port),
                              'NODE_NAME': 'loopnode demo detector', 'LOG_LEVEL': log_level,
                              'LOOP_POLL_INTERVAL': '2', 'SYNC_CYCLES': '3', 'SHUTDOWN_GRACE_SEC': '5'},
                             node_type='detector')


def write_sample(path: Path, loop: DevLoop) -> Path:
    """A generated 640x480 JPEG with shapes of the demo categories (the same every time)."""
    categories = loop.store.categories(DEMO_ORG, DEMO_PROJECT)
    image = generated_images(DEMO_ORG, DEMO_PROJECT, categories, {'inbox': 1}, seed=SAMPLE_SEED)[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image.jpeg)
    return path.resolve()


def _wait_ready(node: Any, stop: threading.Event, timeout: float) -> bool:
    """Wait until the detector serves a model (True), or stop/timeout/a node exit request (False)."""
    deadline = time.monotonic() + timeout
    while node.readiness_reason() is not None:
        if stop.wait(0.1) or node.shutdown_requested.is_set():
            return False
        if time.monotonic() >= deadline:
            log.error('the detector did not load a model within %.0f s: %s', timeout, node.readiness_reason())
            return False
    return True


def _announce(sample: Path, node: Any, loop_url: str) -> None:
    detect = f'{node.url}/detect'
    info = node.model_manager.slot.active_info
    log.info('demo ready: detector %s serves model %s of devloop %s', node.url,
             info.version if info else '?', loop_url)
    log.info('detect:                  curl -F file=@%s %s', sample, detect)
    log.info('detect and upload:       curl -F file=@%s -H "autoupload: all" %s', sample, detect)
    log.info('images devloop received: curl %s/admin/received/images', loop_url)
    log.info('stop with Ctrl-C')


def run(args: argparse.Namespace, stop: threading.Event) -> int:
    """Start devloop and the detector, serve until `stop`, then stop both; returns the exit code."""
    try:
        factory = example_factory()
    except ImportError as e:
        log.error('cannot import the example detector %s: %s', EXAMPLE_FACTORY, e)
        return EXIT_FAILURE
    from .detector import DetectorNode

    loop = DevLoop(args.data / 'devloop', seed='demo', seed_hooks=example_seed_hooks())
    node = None
    try:
        try:
            loop_url = loop.start(args.host, args.loop_port)
        except OSError as e:
            log.error('devloop cannot listen on %s:%s: %s', args.host, args.loop_port, e)
            return EXIT_FAILURE
        color_blobs_hook(loop.store)  # a data folder seeded before the example existed gets the format too
        node = DetectorNode(factory, settings=detector_settings(args.data / 'detector', loop_url, args.host,
                                                                args.port, args.log_level))
        try:
            node.start()
        except OSError as e:
            log.error('the detector cannot listen on %s:%s: %s', args.host, args.port, e)
            return EXIT_FAILURE
        sample = write_sample(args.data / 'sample.jpg', loop)
        if _wait_ready(node, stop, READY_TIMEOUT):
            _announce(sample, node, loop_url)
        while not stop.is_set() and not node.shutdown_requested.is_set():
            stop.wait(0.5)
        return EXIT_OK if stop.is_set() else node.exit_code or EXIT_FAILURE
    finally:
        log.info('stopping the demo')
        if node is not None:
            node.stop()
        loop.stop()


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
        stop.set()
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return run(args, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
