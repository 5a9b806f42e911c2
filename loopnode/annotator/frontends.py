"""One ordered worker per frontend (annotator-converter.md §A3 "Ordering").

Jobs of one `frontend_id` run one at a time in submission order on that frontend's thread (`frontend-N`);
different frontends run in parallel. A worker with nothing to do for `idle_timeout` seconds ends, and the
next job of that frontend starts a new one. `submit` never blocks, so the Socket.IO reading thread can call it.
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

Job = Callable[[], None]
IDLE_TIMEOUT = 30.0


class _Frontend:
    def __init__(self, key: str, name: str) -> None:
        self.key = key
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.name = name
        self.ending = False


class FrontendWorkers:
    """Per-frontend FIFO workers; `stop()` drops queued jobs and joins every thread."""

    def __init__(self, *, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.idle_timeout = idle_timeout
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._frontends: dict[str, _Frontend] = {}
        self._threads: set[threading.Thread] = set()
        self._numbers = itertools.count(1)

    def submit(self, key: str, job: Job) -> None:
        """Queue `job` for frontend `key`, starting its worker if it has none. Raises RuntimeError once stopped."""
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError('the annotator is stopping')
            frontend = self._frontends.get(key)
            if frontend is None or frontend.ending:
                frontend = _Frontend(key, f'frontend-{next(self._numbers)}')
                thread = threading.Thread(target=self._work, args=(frontend,), name=frontend.name)
                self._frontends[key] = frontend
                self._threads.add(thread)
                thread.start()
            frontend.jobs.put(job)

    def end(self, key: str) -> None:
        """Let frontend `key`'s worker finish what is queued and then end (a user logged out)."""
        with self._lock:
            frontend = self._frontends.pop(key, None)
            if frontend is not None:
                frontend.ending = True
                frontend.jobs.put(None)

    def active(self) -> list[str]:
        """Keys of the frontends that have a worker now."""
        with self._lock:
            return list(self._frontends)

    def stragglers(self) -> list[str]:
        """Names of frontend threads still running."""
        with self._lock:
            return [t.name for t in self._threads if t.is_alive()]

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stop.set()
            frontends, self._frontends = list(self._frontends.values()), {}
            threads = list(self._threads)
        for frontend in frontends:
            frontend.jobs.put(None)
        deadline = time.monotonic() + timeout  # one deadline for all: N stuck frontends must not cost N × timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.error('%s did not stop within %.0f s', thread.name, timeout)

    def _work(self, frontend: _Frontend) -> None:
        try:
            while not self._stop.is_set():
                try:
                    job = frontend.jobs.get(timeout=self.idle_timeout)
                except queue.Empty:
                    with self._lock:
                        if not frontend.jobs.empty():
                            continue
                        if self._frontends.get(frontend.key) is frontend:
                            del self._frontends[frontend.key]
                        frontend.ending = True
                    return
                if job is None:
                    if frontend.ending or self._stop.is_set():
                        return
                    continue
                if self._stop.is_set():
                    return
                try:
                    job()
                except Exception:  # noqa: BLE001 - one failing job must not end the frontend
                    log.exception('frontend job failed')
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
