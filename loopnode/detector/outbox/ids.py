"""Outbox item ids (detector.md §9.1): local time `YYYY-MM-DD_HH:MM:SS.ffffff`, unique and increasing.

Pure: the clock is injected. The format sorts lexicographically in time order, so the id alone gives the
queue order across restarts, and it equals upstream's, so a device switching nodes keeps its queue.
"""
from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from typing import Callable

ID_FORMAT = '%Y-%m-%d_%H:%M:%S.%f'
ID_PATTERN = re.compile(r'^\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}\.\d{6}$')
ONE_MICROSECOND = timedelta(microseconds=1)


def format_id(when: datetime) -> str:
    """The id of an item created at local time `when`."""
    return when.strftime(ID_FORMAT)


def is_standard_id(name: str) -> bool:
    """True for names in the id format (other folder names are still uploaded, ordered by name)."""
    return ID_PATTERN.match(name) is not None


class IdSource:
    """Hands out ids from the clock; an id not greater than the previous one is bumped by 1 µs."""

    def __init__(self, clock: Callable[[], datetime] = datetime.now) -> None:
        self._clock = clock
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def next_id(self) -> str:
        with self._lock:
            now = self._clock().replace(tzinfo=None)
            if self._last is not None and now <= self._last:
                now = self._last + ONE_MICROSECOND
            self._last = now
            return format_id(now)
