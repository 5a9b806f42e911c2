"""Discovery of outbox items (detector.md §9.5): a watchdog observer plus a periodic full rescan.

The observer sees folders created in or moved into `outbox/normal` and `outbox/priority` (our own renames
and items copied in by other processes). inotify can lose events, and nothing is watched while the node is
down, so a sorted rescan at start and every 60 s is the source of truth.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Callable

from watchdog.events import DirCreatedEvent, DirMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .queue import QUEUES, ItemRef, OutboxIndex
from .store import EXPLICIT_MARKER, OutboxStore

log = logging.getLogger(__name__)

RESCAN_INTERVAL = 60.0


class _QueueFolderHandler(FileSystemEventHandler):
    """Adds folders that appear directly inside one queue folder to the index."""

    def __init__(self, queue: str, index: OutboxIndex, folder: str) -> None:
        self.queue = queue
        self.index = index
        self.folder = os.path.normpath(folder)

    def on_created(self, event: FileSystemEvent) -> None:
        if isinstance(event, DirCreatedEvent):
            self._add(os.fsdecode(event.src_path))

    def on_moved(self, event: FileSystemEvent) -> None:
        if isinstance(event, DirMovedEvent):
            self._add(os.fsdecode(event.dest_path))

    def _add(self, path: str) -> None:
        name = os.path.basename(path.rstrip(os.sep))
        if not name or name.startswith('.') or os.path.dirname(os.path.normpath(path)) != self.folder:
            return  # e.g. a delete's rename out of the queue (to tmp/<id>.del)
        if self.index.add(self.queue, name, explicit=os.path.exists(os.path.join(path, EXPLICIT_MARKER))):
            if not os.path.isdir(path):  # a late event of an item deleted meanwhile (uploaded or capped)
                self.index.discard(ItemRef(self.queue, name))


class OutboxWatcher:
    """Runs the observer and the rescan loop on the `outbox-watch` thread."""

    def __init__(self, store: OutboxStore, index: OutboxIndex, *, rescan_interval: float = RESCAN_INTERVAL,
                 after_rescan: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.index = index
        self.rescan_interval = rescan_interval
        self._after_rescan = after_rescan
        self._lock = threading.Lock()
        self._observer: Observer | None = None

    def rescan(self) -> None:
        """Make the index equal to the queue folders."""
        with self._lock:
            for queue in QUEUES:
                mark = self.index.mark()
                added, removed = self.index.sync(queue, self.store.list_ids(queue), mark,
                                                 is_explicit=lambda i, q=queue: self.store.is_explicit(ItemRef(q, i)))
                if added or removed:
                    log.debug('outbox rescan %s: %d new, %d vanished', queue, added, removed)
        self._after_rescan()

    def run(self, stop: threading.Event) -> None:
        self._start_observer()
        try:
            while not stop.is_set():
                try:
                    self.rescan()
                except OSError as e:
                    log.warning('outbox rescan failed: %s', e)
                stop.wait(self.rescan_interval)
        finally:
            self._stop_observer()

    def rewatch(self) -> None:
        """Watch the folders again (after they were deleted and recreated by a backdoor reset)."""
        with self._lock:
            running = self._observer is not None
        if running:
            self._stop_observer()
            self._start_observer()

    def _start_observer(self) -> None:
        observer = Observer()
        observer.name = 'outbox-observer'
        try:
            for queue in QUEUES:
                folder = self.store.folder(queue)
                folder.mkdir(parents=True, exist_ok=True)
                observer.schedule(_QueueFolderHandler(queue, self.index, str(folder)), str(folder), recursive=False)
            observer.start()
        except OSError as e:
            log.warning('outbox: cannot watch %s (%s); relying on the %g s rescan', self.store.root, e,
                        self.rescan_interval)
            return
        with self._lock:
            self._observer = observer

    def _stop_observer(self) -> None:
        with self._lock:
            observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(5.0)
