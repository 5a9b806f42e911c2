"""Reused connection threads: accepting a connection costs a queue hand-off, not a thread start.

A thread that finishes a connection waits up to `idle_timeout` for the next one and then ends, so the
thread count follows the load and returns to its baseline when the node is idle. `max_threads` is enforced
by the caller (the connection limit).
"""
from __future__ import annotations

import collections
import itertools
import threading
import time
from typing import Callable


class ThreadPool:
    """Named worker threads created on demand, reused while busy, ended after idling; joined by `stop()`."""

    def __init__(self, name: str, idle_timeout: float) -> None:
        self.name = name
        self.idle_timeout = idle_timeout
        self._cond = threading.Condition()
        self._jobs: collections.deque[Callable[[], None]] = collections.deque()
        self._idle = 0
        self._stopping = False
        self._threads: set[threading.Thread] = set()
        self._ids = itertools.count(1)

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` on an idle thread, or on a new one if none is idle."""
        with self._cond:
            if self._stopping:
                raise RuntimeError('pool is stopping')
            if self._idle > 0:
                self._idle -= 1
                self._jobs.append(job)
                self._cond.notify()
                return
            # non-daemon (DESIGN.md): `HttpServer.shutdown` closes every connection first (idle keep-alive ones
            # at once, a browser's included), so joining them is bounded; a thread stuck in the app is a straggler
            thread = threading.Thread(target=self._work, args=(job,), name=f'{self.name}-{next(self._ids)}')
            self._threads.add(thread)
        thread.start()

    def _work(self, job: Callable[[], None]) -> None:
        try:
            while True:
                job()
                with self._cond:
                    self._idle += 1
                    deadline = time.monotonic() + self.idle_timeout
                    while not self._jobs and not self._stopping:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    if not self._jobs:
                        self._idle -= 1
                        return
                    job = self._jobs.popleft()
        finally:
            with self._cond:
                self._threads.discard(threading.current_thread())

    def alive(self) -> list[str]:
        """Names of the pool's threads that are still running."""
        with self._cond:
            return sorted(t.name for t in self._threads if t.is_alive())

    @property
    def threads(self) -> int:
        with self._cond:
            return len(self._threads)

    def stop(self, timeout: float) -> None:
        """Let idle threads end at once and join every thread within `timeout` (jobs must be ending)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
