"""In-memory index of the outbox items and their upload order (detector.md §9.4). Pure: no I/O.

The index mirrors the folders `outbox/priority` and `outbox/normal`; the rescan makes it equal to the disk
again, so it only has to be right most of the time, never durable. Items have a class: priority, explicit (a
normal item from `/upload` or Socket.IO `upload`) or autoupload; only autoupload items are subject to the cap.
Order: priority items oldest first, then explicit normal items newest first, then autoupload items newest
first, all by id (ids sort in time order). **Differs from detector.md §9.4** (issue 18: explicit before
autoupload).
"""
from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Callable, Collection, Iterable

NORMAL = 'normal'
PRIORITY = 'priority'
QUEUES = (PRIORITY, NORMAL)
CLASSES = ('priority', 'explicit', 'autoupload')


@dataclass(frozen=True, order=True)
class ItemRef:
    """One queued item: its queue folder and its id (= folder name)."""

    queue: str
    id: str


class OutboxIndex:
    """Thread-safe sorted id lists per queue; `on_add` is called (outside the lock) for each new item."""

    def __init__(self, on_add: Callable[[], None] | None = None) -> None:
        self._ids: dict[str, list[str]] = {q: [] for q in QUEUES}
        self._explicit: set[str] = set()  # explicit items of the normal queue
        self._discarded_at: dict[tuple[str, str], int] = {}  # see `sync`
        self._added_at: dict[tuple[str, str], int] = {}  # add sequence number, see `sync`
        self._seq = 0
        self._lock = threading.Lock()
        self._on_add = on_add

    def add(self, queue: str, item_id: str, explicit: bool = False) -> bool:
        """Add an item; False if it was already known (`explicit` still marks a known item)."""
        with self._lock:
            if explicit and queue == NORMAL:
                self._explicit.add(item_id)
            added = _insert(self._ids[queue], item_id)
            if added:
                self._seq += 1
                self._added_at[(queue, item_id)] = self._seq
        if added and self._on_add is not None:
            self._on_add()
        return added

    def discard(self, ref: ItemRef) -> bool:
        with self._lock:
            ids = self._ids[ref.queue]
            i = bisect.bisect_left(ids, ref.id)
            if i < len(ids) and ids[i] == ref.id:
                del ids[i]
                self._added_at.pop((ref.queue, ref.id), None)
                self._seq += 1
                self._discarded_at[(ref.queue, ref.id)] = self._seq
                if ref.queue == NORMAL:
                    self._explicit.discard(ref.id)
                return True
            return False

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, ItemRef):
            return False
        with self._lock:
            ids = self._ids[ref.queue]
            i = bisect.bisect_left(ids, ref.id)
            return i < len(ids) and ids[i] == ref.id

    def mark(self) -> int:
        """The current add sequence number; take it before listing a folder for `sync`."""
        with self._lock:
            return self._seq

    def sync(self, queue: str, on_disk: Iterable[str], mark: int | None = None,
             is_explicit: Callable[[str], bool] = lambda _id: False) -> tuple[int, int]:
        """Make the queue equal to a folder listing: returns (added, removed).

        Items added after `mark` (taken before the listing) are kept even if the listing lacks them: they
        were written while the folder was being read; items discarded after `mark` stay out even if the
        listing still has them (deleted while it was read). `is_explicit(id)` classifies the new normal items.
        """
        disk = set(on_disk)
        new_explicit = {i for i in disk if queue == NORMAL and i not in self._explicit and is_explicit(i)}
        with self._lock:
            if mark is not None:
                disk -= {i for (q, i), seq in self._discarded_at.items() if q == queue and seq > mark}
            self._discarded_at = {k: v for k, v in self._discarded_at.items()
                                  if k[0] != queue or (mark is not None and v > mark)}
            old = set(self._ids[queue])
            keep = {i for i in old - disk
                    if mark is not None and self._added_at.get((queue, i), 0) > mark}
            removed = old - disk - keep
            new = disk - old
            self._ids[queue] = sorted(disk | keep)
            for i in removed:
                self._added_at.pop((queue, i), None)
                if queue == NORMAL:
                    self._explicit.discard(i)
            if queue == NORMAL:
                self._explicit |= new_explicit & set(self._ids[queue])
            for i in new:
                self._seq += 1
                self._added_at[(queue, i)] = self._seq
        if new and self._on_add is not None:
            self._on_add()
        return len(new), len(removed)

    def count(self, queue: str) -> int:
        with self._lock:
            return len(self._ids[queue])

    def oldest(self, queue: str, n: int) -> list[ItemRef]:
        """The `n` oldest items of a queue."""
        with self._lock:
            return [ItemRef(queue, i) for i in self._ids[queue][:max(0, n)]]

    def autoupload(self) -> list[ItemRef]:
        """The autoupload items (normal, not explicit), oldest first: what the size cap may delete."""
        with self._lock:
            return [ItemRef(NORMAL, i) for i in self._ids[NORMAL] if i not in self._explicit]

    def count_autoupload(self) -> int:
        with self._lock:
            return len(self._ids[NORMAL]) - len(self._explicit)

    def is_explicit(self, ref: ItemRef) -> bool:
        with self._lock:
            return ref.queue == PRIORITY or ref.id in self._explicit

    def class_counts(self) -> dict[str, int]:
        """Items per class (`CLASSES`)."""
        with self._lock:
            explicit = len(self._explicit)
            return {'priority': len(self._ids[PRIORITY]), 'explicit': explicit,
                    'autoupload': len(self._ids[NORMAL]) - explicit}

    def next_batch(self, n: int, exclude: Collection[ItemRef] = ()) -> list[ItemRef]:
        """Up to `n` items in upload order, skipping `exclude`."""
        return list(self.iter_order(n, exclude))

    def iter_order(self, limit: int, exclude: Collection[ItemRef] = ()) -> Iterable[ItemRef]:
        """Items in upload order (a snapshot), skipping `exclude`, at most `limit`."""
        with self._lock:
            priority = list(self._ids[PRIORITY])
            normal = list(self._ids[NORMAL])
            explicit = [i for i in normal if i in self._explicit] if self._explicit else []
            auto = [i for i in normal if i not in self._explicit] if self._explicit else normal
        found = 0
        for queue, ids in ((PRIORITY, priority), (NORMAL, reversed(explicit)), (NORMAL, reversed(auto))):
            for item_id in ids:
                if found >= limit:
                    return
                ref = ItemRef(queue, item_id)
                if ref in exclude:
                    continue
                found += 1
                yield ref

    def clear(self) -> None:
        with self._lock:
            for ids in self._ids.values():
                ids.clear()
            self._added_at.clear()
            self._explicit.clear()
            self._discarded_at.clear()


def _insert(ids: list[str], item_id: str) -> bool:
    i = bisect.bisect_left(ids, item_id)
    if i < len(ids) and ids[i] == item_id:
        return False
    ids.insert(i, item_id)
    return True


COUNTER_NAMES = ('uploaded', 'dropped_cap', 'refused_disk', 'rejected_422', 'rejected_incomplete',
                 'skipped_unencodable', 'dropped_busy', 'failed_attempts', 'refused_disk_explicit',
                 'refused_busy_explicit')


class OutboxCounters:
    """Thread-safe monotonic counters of the outbox (the `/status` and `/metrics` numbers)."""

    def __init__(self) -> None:
        self._values = dict.fromkeys(COUNTER_NAMES, 0)
        self._lock = threading.Lock()

    def add(self, name: str, n: int = 1) -> int:
        with self._lock:
            self._values[name] += n
            return self._values[name]

    def get(self, name: str) -> int:
        with self._lock:
            return self._values[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)
