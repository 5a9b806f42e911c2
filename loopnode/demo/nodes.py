"""The demo's servers: devloop plus the four example nodes, each with its example logic, in one process.

`DemoNodes.start()` starts devloop, then the converter (`color_blobs` → `color_blobs_lut`, waiting for its
first pass), the detector (serving `color_blobs_lut`), the annotator (magic wand) and the trainer (colour
model); `stop()` stops them in the reverse order. Node settings are built here, never read from the environment: the demo is
self-contained. A node type whose package is missing (e.g. the trainer before it is installed) is left out
with a warning, so the rest of the demo still runs.
"""
from __future__ import annotations

import importlib
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..devloop import DEMO_ORG, DEMO_PROJECT, DevLoop
from ..devloop.seed_examples import color_blobs_hook, example_seed_hooks
from ..settings import Settings

log = logging.getLogger(__name__)

# node type -> (node class, example logic): both imported when the node starts
NODE_TYPES: dict[str, tuple[str, str]] = {
    'detector': ('loopnode.detector:DetectorNode', 'loopnode.examples.color_detector:color_blobs_lut_factory'),
    'converter': ('loopnode.converter:ConverterNode', 'loopnode.examples.color_converter:ColorLutConverter'),
    'annotator': ('loopnode.annotator:AnnotatorNode', 'loopnode.examples.color_annotator.logic:MagicWandLogic'),
    'trainer': ('loopnode.trainer:TrainerNode', 'loopnode.examples.color_trainer.logic:ColorTrainerLogic'),
}
CONVERTER_LOGGER = 'loopnode.converter.runner'
PORT_ORDER = ('detector', 'converter', 'annotator', 'trainer')
START_ORDER = ('converter', 'detector', 'annotator', 'trainer')  # the converter's first pass before the detector
FIRST_PASS_TIMEOUT = 10.0
# The detector caches models by version only: a demo-data folder of the older demo, whose detector served
# `color_blobs`, would hand it a 1.1 without the table. A folder of its own keeps such a folder working.
DATA_FOLDERS = {'detector': 'detector-lut'}
NODE_ENV: dict[str, dict[str, str]] = {  # short intervals, so one cycle takes seconds
    'detector': {'LOOP_POLL_INTERVAL': '1', 'SYNC_CYCLES': '3'},
    'converter': {'LOOP_POLL_INTERVAL': '2', 'CONVERTER_POLL_INTERVAL': '2'},
    'annotator': {'LOOP_POLL_INTERVAL': '2'},
    'trainer': {'LOOP_POLL_INTERVAL': '1'},
}


class QuietEmptyPasses(logging.Filter):
    """Drops the converter's log line of a pass that found nothing to convert (one every 2 s in the demo)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return ' 0 candidate(s)' not in record.getMessage()


def load(spec: str) -> Any:
    """The object named `module:attr`."""
    module_name, _, attr = spec.partition(':')
    return getattr(importlib.import_module(module_name), attr)


def free_port_from(host: str, first: int) -> int:
    """The first port >= `first` that can be bound on `host` (0 stays 0: the OS picks)."""
    if first == 0:
        return 0
    for port in range(first, min(first + 100, 65536)):
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f'no free port in {first}..{first + 99} on {host}')


def node_settings(node_type: str, data: Path, loop_url: str, host: str, port: int, log_level: str) -> Settings:
    return Settings.from_env({'DATA_FOLDER': str(data), 'LOOP_HOST': loop_url, 'LOOP_ORGANIZATION': DEMO_ORG,
                              'LOOP_PROJECT': DEMO_PROJECT, 'NODE_HOST': host, 'NODE_PORT': str(port),
                              'NODE_NAME': f'loopnode demo {node_type}', 'LOG_LEVEL': log_level,
                              'SHUTDOWN_GRACE_SEC': '5', **NODE_ENV[node_type]}, node_type=node_type)


@dataclass
class DemoNodes:
    """devloop and the started nodes (by type) of one demo run."""

    data: Path
    host: str
    loop_port: int
    detector_port: int
    log_level: str = 'INFO'
    loop: DevLoop | None = None
    loop_url: str = ''
    nodes: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # node type -> why it is not running
    _quiet: QuietEmptyPasses = field(default_factory=lambda: QuietEmptyPasses(), repr=False)

    def start(self) -> None:
        """Start devloop and every node type that imports; OSError if a port cannot be bound."""
        logging.getLogger(CONVERTER_LOGGER).addFilter(self._quiet)
        self.loop = DevLoop(self.data / 'devloop', seed='demo', seed_hooks=example_seed_hooks())
        self.loop_url = self.loop.start(self.host, self.loop_port)
        color_blobs_hook(self.loop.store)  # a data folder seeded before the example existed gets the format too
        classes: dict[str, tuple[Any, Any]] = {}
        ports: dict[str, int] = {}
        next_port = self.detector_port
        for node_type in PORT_ORDER:  # the detector keeps its port; the others take the next free ones
            try:
                classes[node_type] = load(NODE_TYPES[node_type][0]), load(NODE_TYPES[node_type][1])()
            except ImportError as e:
                log.warning('the %s is not available, the demo runs without it: %s', node_type, e)
                self.missing[node_type] = str(e)
                continue
            ports[node_type] = free_port_from(self.host, next_port)
            next_port = ports[node_type] + 1 if ports[node_type] else 0
        for node_type in START_ORDER:
            if node_type not in classes:
                continue
            node_class, logic = classes[node_type]
            folder = self.data / DATA_FOLDERS.get(node_type, node_type)
            settings = node_settings(node_type, folder, self.loop_url, self.host, ports[node_type], self.log_level)
            node = node_class(logic, name=settings.node_name, settings=settings)
            node.start()
            self.nodes[node_type] = node
            if node_type == 'converter':
                self._first_pass(node)

    @staticmethod
    def _first_pass(node: Any) -> None:
        """Let the converter's first pass add color_blobs_lut to the demo models before the detector asks."""
        pause = threading.Event()
        deadline = time.monotonic() + FIRST_PASS_TIMEOUT
        while node.passes.passes_done < 1 and time.monotonic() < deadline and not pause.wait(0.05):
            pass

    def stop(self) -> None:
        """Stop the nodes (last started first), then devloop."""
        for node_type in reversed(START_ORDER):
            node = self.nodes.pop(node_type, None)
            if node is not None:
                node.stop()
        if self.loop is not None:
            self.loop.stop()
            self.loop = None
        logging.getLogger(CONVERTER_LOGGER).removeFilter(self._quiet)

    def exit_requested(self) -> Any:
        """The first node that asked to exit (a restart, a fatal error), or None."""
        return next((n for n in self.nodes.values() if n.shutdown_requested.is_set()), None)

