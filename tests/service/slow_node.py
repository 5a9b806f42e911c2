"""A minimal node process for the shutdown and sd_notify tests: `python -m tests.service.slow_node`."""
from __future__ import annotations

import sys
import threading

from flask import jsonify

from loopnode.logs import setup_logging
from loopnode.service.node import NodeService
from loopnode.service.workers import PeriodicWorker
from loopnode.settings import Settings


class SlowNode(NodeService):
    """Serves GET /slow, which marks its start in the data folder and takes 1.5 s; runs one periodic worker."""

    node_type = 'converter'

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, name='slow node')
        self.add_worker(PeriodicWorker('tick', lambda: None, lambda: 0.1))

        @self.app.get('/slow')
        def slow() -> object:
            (settings.data_folder / 'slow-started').touch()  # lets the test signal while this runs
            threading.Event().wait(1.5)
            return jsonify({'done': True})


def main() -> int:
    settings = Settings.from_env(node_type='converter')
    setup_logging(settings.log_level)
    return SlowNode(settings).run()


if __name__ == '__main__':
    sys.exit(main())
