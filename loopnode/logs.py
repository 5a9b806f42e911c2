"""Logging set-up for node processes and a rate limiter for warnings that would otherwise repeat every cycle."""
from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Callable

FORMAT = '%(asctime)s.%(msecs)03d %(levelname)s [%(module)s:%(lineno)d] %(message)s'
JOURNAL_FORMAT = '%(levelname)s [%(module)s:%(lineno)d] %(message)s'  # journald adds the time itself


def setup_logging(level: str = 'INFO', *, journal: bool = False) -> None:
    """Log to stderr: loopnode's loggers at `level`, libraries at WARNING; no timestamps under journald."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(JOURNAL_FORMAT if journal else FORMAT, '%Y-%m-%d %H:%M:%S'))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger('loopnode').setLevel(level)
    for noisy in ('werkzeug', 'engineio', 'socketio', 'urllib3', 'watchdog'):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger('watchdog.observers.inotify').addFilter(_drop_inactive_emitter_error)


def _drop_inactive_emitter_error(record: logging.LogRecord) -> bool:
    """watchdog logs this at ERROR when events are pending while its observer stops: harmless at shutdown."""
    return 'called when the thread is inactive' not in record.getMessage()


class RateLimitedLog:
    """Emits a given message key at most once per `interval` seconds (e.g. "the Loop is unreachable")."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        """Log `msg` under `key` unless it was logged less than `interval` ago; True if it was emitted."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            msg += f' ({suppressed} similar messages suppressed)'
        self._logger.log(level, msg, *args)
        return True

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def reset(self, key: str) -> None:
        """Forget `key`, so the next occurrence is logged at once (e.g. after a recovery)."""
        with self._lock:
            self._last.pop(key, None)
            self._suppressed.pop(key, None)
