"""Named worker threads with their own stop event, used by every node (DESIGN.md thread rules)."""
from __future__ import annotations

import logging
import threading
from typing import Callable

from ..errors import NodeNeedsRestartError

log = logging.getLogger(__name__)


class Worker:
    """A named, non-daemon thread running `target(stop)`; an escaping exception is logged and marks it dead."""

    def __init__(self, name: str, target: Callable[[threading.Event], None], *, supervised: bool = True) -> None:
        self.name = name
        self.stop_event = threading.Event()
        self.supervised = supervised
        self.crashed = False
        self.on_restart: Callable[[], None] | None = None  # set by the node: NodeNeedsRestartError → exit 75
        self._target = target
        self._thread = threading.Thread(target=self._run, name=name)

    def _run(self) -> None:
        try:
            self._target(self.stop_event)
        except NodeNeedsRestartError as e:
            log.error('%s needs a process restart: %s', self.name, e)
            if self.on_restart is not None:
                self.on_restart()
        except BaseException:  # noqa: BLE001 - a dead worker must be visible in /healthz
            self.crashed = True
            log.exception('thread %s died', self.name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop (does not wait)."""
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def dead(self) -> bool:
        """True if the thread ended while it was still wanted (a crash or an unexpected return)."""
        return self._thread.ident is not None and not self._thread.is_alive() and not self.stop_event.is_set()


class PeriodicWorker(Worker):
    """Runs `tick()` at once and then every `interval()` seconds after the previous tick ended.

    While `muted()` is true no tick runs (checked every second). An exception in a tick is logged and the
    thread goes on, so one bad cycle never stops the heartbeat.
    """

    def __init__(self, name: str, tick: Callable[[], None], interval: Callable[[], float],
                 muted: Callable[[], bool] = lambda: False) -> None:
        super().__init__(name, self._loop)
        self._tick = tick
        self._interval = interval
        self._muted = muted
        self.wake = threading.Event()

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self._muted():
                stop.wait(1.0)
                continue
            self.wake.clear()
            try:
                self._tick()
            except NodeNeedsRestartError:
                raise
            except Exception:  # noqa: BLE001 - logged, the cycle continues
                log.exception('%s cycle failed', self.name)
            if not stop.is_set():
                self.wake.wait(self._interval())  # stop() and trigger() set `wake`

    def trigger(self) -> None:
        """Run the next tick now instead of after the interval."""
        self.wake.set()

    def stop(self) -> None:
        super().stop()
        self.wake.set()
