"""A node with a thread that ignores the stop: `python -m tests.service.stuck_node [converter|trainer]`.

On SIGTERM the node gives up on the stuck thread after SHUTDOWN_GRACE_SEC and leaves with `os._exit`. The
thread starts an executor (`sh -c 'sleep 600 & …; wait'`) only once `stop()` has stopped every executor it
knew of, so only the kill before `os._exit` can end that process group; it must not outlive the node.
Its pids go to `{DATA}/executor.pid` (the shell, then the grandchild `sleep`).
"""
from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

from loopnode.logs import setup_logging
from loopnode.service.executor import ExecutorRegistry
from loopnode.service.node import NodeService
from loopnode.service.workers import Worker
from loopnode.settings import Settings

LATE_START_WAIT = 10.0


class StuckMixin:
    """Adds the stuck worker; `stragglers()` lets its late executor start before the exit path kills."""

    settings: Settings
    executors: ExecutorRegistry
    late_started: threading.Event
    _stopped: threading.Event

    if TYPE_CHECKING:
        def add_worker(self, worker: Worker) -> Worker: ...

    def add_stuck_worker(self) -> None:
        self.late_started = threading.Event()
        self.add_worker(Worker('stuck', self._work))

    def _work(self, stop: threading.Event) -> None:
        stop.wait()
        self._stopped.wait()  # stop() is done, the executors it knew of are gone
        executor = self.executors.new(self.settings.data_folder / 'run')
        executor.start(['sh', '-c', 'sleep 600 & echo $! > grandchild.pid; wait'])
        grandchild = self.settings.data_folder / 'run' / 'grandchild.pid'
        while not (grandchild.exists() and grandchild.read_text().strip()):
            stop.wait(0.01)  # the stop event is set: this only yields the GIL while the shell starts
        (self.settings.data_folder / 'executor.pid').write_text(f'{executor.pid}\n{grandchild.read_text()}')
        self.late_started.set()
        threading.Event().wait()  # a logic that ignores the stop (e.g. waits on something without a timeout)

    def stragglers(self) -> list[str]:
        if self._stopped.is_set():
            self.late_started.wait(LATE_START_WAIT)
        return super().stragglers()  # type: ignore[misc]


class StuckNode(StuckMixin, NodeService):
    """A bare NodeService (as a converter) with the stuck worker."""

    node_type = 'converter'

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, name='stuck node')
        self.add_stuck_worker()


def trainer_node(settings: Settings) -> NodeService:
    """A TrainerNode running the mock logic, with the stuck worker."""
    from loopnode.trainer.mock import MockTrainerLogic
    from loopnode.trainer.node import TrainerNode

    class StuckTrainer(StuckMixin, TrainerNode):
        pass

    node = StuckTrainer(MockTrainerLogic(), name='stuck trainer', settings=settings)
    node.add_stuck_worker()
    return node


def main() -> int:
    kind = sys.argv[1] if len(sys.argv) > 1 else 'converter'
    settings = Settings.from_env(node_type=kind)
    setup_logging(settings.log_level)
    node = trainer_node(settings) if kind == 'trainer' else StuckNode(settings)
    return node.run()


if __name__ == '__main__':
    sys.exit(main())
