"""The `status` thread (detector.md §8.2): posts the latest DetectorStatus to `POST P/detectors` when asked.

`request()` only sets a flag and returns at once, so no API request ever waits for the Loop. Requests that
arrive while a POST is in flight are coalesced into one more POST with the snapshot taken at that moment.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import requests

from ..loop.http import STATUS_TIMEOUT, LoopHttp
from ..logs import RateLimitedLog
from ..service.workers import Worker

log = logging.getLogger(__name__)


class StatusSender(Worker):
    """Coalescing status poster running in the thread `status`."""

    def __init__(self, loop_http: LoopHttp, snapshot: Callable[[], dict[str, Any]], *, name: str = 'status') -> None:
        super().__init__(name, self._loop)
        self._http = loop_http
        self._snapshot = snapshot
        self._wake = threading.Event()
        self._rate_log = RateLimitedLog(log)
        self._last_state: tuple[Any, ...] | None = None
        self.sent = 0       # successful posts (for tests and /metrics-like introspection)
        self.failed = 0

    def request(self) -> None:
        """Ask for a status post; never blocks."""
        self._wake.set()

    def stop(self) -> None:
        super().stop()
        self._wake.set()

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.wait()
            if stop.is_set():
                return
            self._wake.clear()
            self.send_now()

    def send_now(self) -> bool:
        """Post the current snapshot once (in the calling thread); True on any 2xx."""
        status = self._snapshot()
        path = self._http.project_path('/detectors')
        try:
            response = self._http.post(path, json=status, timeout=STATUS_TIMEOUT, retry_429=False)
        except requests.RequestException as e:
            self.failed += 1
            self._rate_log.warning('status', 'could not send the status to the Loop: %s', e)
            return False
        finally:
            self._log(status)
        code = response.status_code
        response.close()
        if 200 <= code < 300:
            self.sent += 1
            self._rate_log.reset('status')
            return True
        self.failed += 1
        self._rate_log.warning('status', 'the Loop answered HTTP %d to the status', code)
        return False

    def _log(self, status: dict[str, Any]) -> None:
        state = (status.get('state'), status.get('current_model'), status.get('operation_mode'),
                 tuple(sorted((status.get('errors') or {}).items())))
        level = logging.INFO if state != self._last_state else logging.DEBUG
        self._last_state = state
        log.log(level, 'status: %s model %s, target %s, mode %s, errors %s', status.get('state'),
                status.get('current_model'), status.get('target_model'), status.get('operation_mode'),
                status.get('errors'))
