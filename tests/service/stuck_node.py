"""A node whose worker started an executor and then ignores the stop: `python -m tests.service.stuck_node`.

On SIGTERM the node gives up on the stuck thread after SHUTDOWN_GRACE_SEC and leaves with `os._exit`; the
executor's process group must not outlive it.
"""
from __future__ import annotations

import sys
import threading

from loopnode.logs import setup_logging
from loopnode.service.executor import Executor
from loopnode.service.node import NodeService
from loopnode.service.workers import Worker
from loopnode.settings import Settings


class StuckNode(NodeService):
    """One worker: starts `sleep 600` in an executor, writes its pid to `{DATA}/executor.pid`, never returns."""

    node_type = 'converter'

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, name='stuck node')
        self.add_worker(Worker('stuck', self._work))

    def _work(self, _stop: threading.Event) -> None:
        executor = Executor(self.settings.data_folder / 'run')
        executor.start(['sleep', '600'])
        (self.settings.data_folder / 'executor.pid').write_text(str(executor.pid))
        threading.Event().wait()  # a logic that ignores the stop (e.g. waits on something without a timeout)


def main() -> int:
    settings = Settings.from_env(node_type='converter')
    setup_logging(settings.log_level)
    return StuckNode(settings).run()


if __name__ == '__main__':
    sys.exit(main())
