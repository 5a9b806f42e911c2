"""PassLoop: the `convert` thread (annotator-converter.md §B2, §B7): one pass at a time, at start and then
every CONVERTER_POLL_INTERVAL after the previous pass ended; `POST /step` and `PUT /check_state` steer it.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Generic, TypeVar

from ..errors import NodeNeedsRestartError
from ..service.workers import Worker

log = logging.getLogger(__name__)

R = TypeVar('R')
IDLE_WAIT = 2.5  # `PUT /check_state off` waits this long for a running pass


class PassLoop(Worker, Generic[R]):
    """Runs `run_pass(stop)` on its own thread; automatic passes can be switched off, single passes requested."""

    def __init__(self, run_pass: Callable[[threading.Event], R], interval: Callable[[], float],
                 name: str = 'convert') -> None:
        super().__init__(name, self._loop)
        self._run_pass = run_pass
        self._interval = interval
        self._cond = threading.Condition()
        self.automatic = True
        self.running = False
        self._step_wanted = False
        self.passes_done = 0
        self.last_report: R | None = None
        self._next_due = time.monotonic()  # the first pass runs at start

    # ---- the thread ------------------------------------------------------------------------------------

    def _loop(self, stop: threading.Event) -> None:
        while True:
            with self._cond:
                while not stop.is_set() and not self._step_wanted and not (
                        self.automatic and time.monotonic() >= self._next_due):
                    timeout = self._next_due - time.monotonic() if self.automatic else None
                    self._cond.wait(timeout)
                if stop.is_set():
                    return
                self._step_wanted = False
                self.running = True
            report: R | None = None
            try:
                report = self._run_pass(stop)
            except NodeNeedsRestartError:
                raise
            except Exception:  # noqa: BLE001 - logged; the next pass runs on schedule
                log.exception('conversion pass failed')
            finally:
                with self._cond:
                    self.running = False
                    self.passes_done += 1
                    if report is not None:
                        self.last_report = report
                    self._next_due = time.monotonic() + self._interval()
                    self._cond.notify_all()

    def stop(self) -> None:
        super().stop()
        with self._cond:
            self._cond.notify_all()

    # ---- control (request threads) ------------------------------------------------------------------------

    def request_pass(self) -> bool:
        """Run one pass now and wait until it ended; False at once if a pass runs or is already requested.

        Returns True once the pass is done, False as well when the node stops meanwhile.
        """
        with self._cond:
            if self.running or self._step_wanted:
                return False
            self._step_wanted = True
            target = self.passes_done + 1
            self._cond.notify_all()
            while self.passes_done < target:
                if self.stop_event.is_set():
                    return False
                self._cond.wait(0.5)
            return True

    def set_automatic(self, on: bool) -> bool:
        """Switch automatic passes on or off; off waits up to 2.5 s for a running pass (False if it still runs)."""
        with self._cond:
            self.automatic = on
            self._cond.notify_all()
            if on:
                return True
            deadline = time.monotonic() + IDLE_WAIT
            while self.running and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return not self.running

    def seconds_to_next_pass(self) -> float | None:
        """Seconds until the next automatic pass (0 if due or running), None while automatic passes are off."""
        with self._cond:
            if not self.automatic:
                return None
            return max(0.0, self._next_due - time.monotonic())
