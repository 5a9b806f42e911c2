"""The detector's outbox (detector.md §9): the `Outbox` facade the API and the node use.

It wires the parts: `OutboxStore` (disk layout, atomic writes), `OutboxIndex` (order), `SaveQueue` (thread
'outbox-save'), `OutboxWatcher` (thread 'outbox-watch') and `Uploader` (thread 'outbox-upload'), and owns the
limits (MAX_OUTBOX_SIZE, the disk guard), the mode, the `/status` numbers and the Prometheus metrics.
"""
from __future__ import annotations

import json
import logging
import shutil
import threading
from datetime import datetime
from typing import Any, Callable, Iterable

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ...data.enums import OutboxMode
from ...logs import RateLimitedLog
from ...loop.http import LoopHttp
from ...service.workers import Worker
from ...settings import Settings
from .ids import IdSource
from .policy import cap_error_text, disk_error_text, guard_threshold_mb, refused_by_guard
from .queue import NORMAL, PRIORITY, OutboxCounters, OutboxIndex
from .saver import (SAVE_QUEUE_SIZE, ImageInput, OutboxBusy, OutboxRefused, SaveQueue, SaveRequest,
                    UnencodableImage, check_encodable)
from .store import OutboxStore
from .upload import BACKOFF_BASE, BACKOFF_CAP, INCOMPLETE_GRACE, SETTLE_TIME, Uploader
from .watch import RESCAN_INTERVAL, OutboxWatcher

__all__ = ['Outbox', 'OutboxBusy', 'OutboxRefused', 'UnencodableImage']

log = logging.getLogger(__name__)

DiskUsage = Callable[[Any], Any]  # shutil.disk_usage-like: returns an object with `.free` in bytes


class _OutboxWorker(Worker):
    """A Worker whose stop() also ends the thread's own waits (not only `stop_event`)."""

    def __init__(self, name: str, target: Callable[[threading.Event], None],
                 on_stop: Callable[[], None] = lambda: None) -> None:
        super().__init__(name, target)
        self._on_stop = on_stop

    def stop(self) -> None:
        super().stop()
        self._on_stop()


class Outbox:
    """Crash-safe upload queue of images for the Loop (see docs/outbox.md)."""

    def __init__(self, settings: Settings, loop_http: LoopHttp, *, on_error_change: Callable[[], None] = lambda: None,
                 registry: CollectorRegistry | None = None, disk_usage: DiskUsage = shutil.disk_usage,
                 max_size: int | None = None, min_free_mb: int | None = None,
                 backoff_base: float = BACKOFF_BASE, backoff_cap: float = BACKOFF_CAP,
                 incomplete_grace: float = INCOMPLETE_GRACE, settle_time: float = SETTLE_TIME,
                 rescan_interval: float = RESCAN_INTERVAL, save_queue_size: int = SAVE_QUEUE_SIZE,
                 id_clock: Callable[[], datetime] = datetime.now) -> None:
        self.settings = settings
        self.max_size = settings.max_outbox_size if max_size is None else max_size
        self.min_free_mb = settings.outbox_min_free_mb if min_free_mb is None else min_free_mb
        self._disk_usage = disk_usage
        self._on_error_change = on_error_change
        self._mode = OutboxMode.CONTINUOUS_UPLOAD
        self._lock = threading.RLock()  # saves, cap and error state
        self._disk_error: str | None = None
        self._cap_error: str | None = None
        self._rate_log = RateLimitedLog(log)
        self._ids = IdSource(id_clock)
        self.counters = OutboxCounters()
        self.store = OutboxStore(settings.data_folder)
        self.store.ensure_layout()
        self.store.clean_staging()
        self.index = OutboxIndex(on_add=lambda: self.uploader.wake.set())
        self.uploader = Uploader(self.store, self.index, loop_http, self.counters,
                                 is_enabled=lambda: self._mode is OutboxMode.CONTINUOUS_UPLOAD,
                                 on_change=self._recheck_cap_error, backoff_base=backoff_base,
                                 backoff_cap=backoff_cap, incomplete_grace=incomplete_grace, settle_time=settle_time)
        self.watcher = OutboxWatcher(self.store, self.index, rescan_interval=rescan_interval,
                                     after_rescan=self._after_rescan)
        self.saver = SaveQueue(self._store_item, on_busy=self._count_busy, on_unencodable=self._count_unencodable,
                               size=save_queue_size)
        self.watcher.rescan()
        self.workers: list[Worker] = [
            _OutboxWorker('outbox-save', self.saver.run),
            _OutboxWorker('outbox-watch', self.watcher.run),
            _OutboxWorker('outbox-upload', self.uploader.run, on_stop=self.uploader.poke),
        ]
        if registry is not None:
            registry.register(_OutboxCollector(self))

    # ---- saving ------------------------------------------------------------------------------------------

    def save(self, image: ImageInput, metadata: Any, priority: bool = False, *, wait: bool = False) -> None:
        """Queue one image (array, JPEG or other encoded bytes) with its ImageMetadata (object or dict).

        `wait=False` (autoupload) never blocks: a full save queue drops and counts the item. `wait=True`
        (explicit upload) returns once the item is durably on disk, or raises OutboxRefused (disk guard),
        UnencodableImage or OutboxBusy.
        """
        if isinstance(image, np.ndarray):
            try:
                check_encodable(image)
            except UnencodableImage:
                if wait:
                    raise
                self._count_unencodable()
                return
        meta = metadata.to_dict() if hasattr(metadata, 'to_dict') else dict(metadata)
        request = SaveRequest(image=image, metadata_json=json.dumps(meta).encode(), priority=priority)
        self.saver.submit(request, wait)

    def _store_item(self, request: SaveRequest, jpeg: bytes) -> str:
        """Saver thread: disk guard, atomic write, index, cap."""
        queue = PRIORITY if request.priority else NORMAL
        with self._lock:
            free = self.free_mb()
            if refused_by_guard(free, self.min_free_mb, request.priority):
                refused = self.counters.add('refused_disk')
                self._set_errors(disk=disk_error_text(free, self.min_free_mb, refused))
                self._rate_log.warning('disk', 'outbox: free disk space %d MB below %d MB; refusing %s images '
                                       '(%d refused so far)', free, self.min_free_mb, queue, refused)
                threshold = guard_threshold_mb(self.min_free_mb, request.priority)
                raise OutboxRefused(f'outbox refused: free disk space below {threshold} MB')
            if not refused_by_guard(free, self.min_free_mb, False):
                self._set_errors(disk=None)
            item_id = self._ids.next_id()
            self.uploader.mark_own(item_id)
            try:
                self.store.write(queue, item_id, jpeg, request.metadata_json)
            except BaseException:
                self.uploader.mark_own(item_id, False)
                raise
            self.index.add(queue, item_id)
            if queue == NORMAL:
                self._enforce_cap()
        return item_id

    def _enforce_cap(self) -> None:
        with self._lock:
            over = self.index.count(NORMAL) - self.max_size
            if over <= 0:
                self._set_errors(cap=None)
                return
            dropped = 0
            for ref in self.index.oldest(NORMAL, over):
                if self.store.delete(ref):
                    dropped += 1
                self.index.discard(ref)
                self.uploader.mark_own(ref.id, False)
            total = self.counters.add('dropped_cap', dropped)
            self._set_errors(cap=cap_error_text(self.max_size, total))
            self._rate_log.warning('cap', 'outbox: normal queue over MAX_OUTBOX_SIZE=%d; dropped the %d oldest '
                                   'items (%d so far)', self.max_size, dropped, total)

    def _recheck_cap_error(self) -> None:
        with self._lock:
            if self._cap_error is not None and self.index.count(NORMAL) <= self.max_size:
                self._set_errors(cap=None)

    def _after_rescan(self) -> None:
        self._enforce_cap()
        with self._lock:
            if self._disk_error is not None and not refused_by_guard(self.free_mb(), self.min_free_mb, False):
                self._set_errors(disk=None)

    def _count_busy(self) -> None:
        n = self.counters.add('dropped_busy')
        self._rate_log.warning('busy', 'outbox: save queue full; dropped an autoupload image (%d so far)', n)

    def _count_unencodable(self) -> None:
        n = self.counters.add('skipped_unencodable')
        self._rate_log.warning('unencodable', 'outbox: skipped an image that cannot be stored as JPEG '
                               '(%d so far); send uint8 images', n)

    # ---- errors, mode, status ------------------------------------------------------------------------------

    _UNSET: Any = object()

    def _set_errors(self, *, disk: Any = _UNSET, cap: Any = _UNSET) -> None:
        with self._lock:
            before = self.error()
            if disk is not self._UNSET:
                self._disk_error = disk
            if cap is not self._UNSET:
                self._cap_error = cap
            after = self.error()
        if (before is None) != (after is None):
            if after is None:
                log.info('outbox: saving works again')
            try:
                self._on_error_change()
            except Exception:  # noqa: BLE001 - a status-sync hook must not break saving
                log.exception('outbox: on_error_change failed')

    def error(self) -> str | None:
        """The status error `outbox` (disk guard / cap), None while saving works."""
        parts = [e for e in (self._disk_error, self._cap_error) if e]
        return '; '.join(parts) if parts else None

    def free_mb(self) -> float:
        try:
            return self._disk_usage(self.settings.data_folder).free / 1e6
        except OSError:
            return float('inf')

    @property
    def mode(self) -> str:
        return self._mode.value

    def set_mode(self, mode: str | OutboxMode) -> None:
        """Switch uploading on or off; takes effect at once (waits are interrupted)."""
        new = OutboxMode(mode)
        if new is not self._mode:
            log.info('outbox mode: %s', new.value)
        self._mode = new
        self.uploader.poke()

    def status_dict(self) -> dict[str, Any]:
        """The `outbox` object of `GET /status` (detector.md §2.5)."""
        c = self.counters.snapshot()
        free = self.free_mb()
        return {'mode': self.mode, 'normal': self.index.count(NORMAL), 'priority': self.index.count(PRIORITY),
                'rejected': len(self.store.list_rejected()), 'uploaded': c['uploaded'],
                'dropped_cap': c['dropped_cap'], 'refused_disk': c['refused_disk'],
                'rejected_422': c['rejected_422'], 'rejected_incomplete': c['rejected_incomplete'],
                'skipped_unencodable': c['skipped_unencodable'], 'dropped_busy': c['dropped_busy'],
                'failed_attempts': c['failed_attempts'], 'last_error': self.uploader.last_error,
                'free_mb': None if free == float('inf') else int(free)}

    def reset(self) -> None:
        """Backdoor /reset (the data folder was emptied): recreate the folders, rebuild the index."""
        self.store.ensure_layout()
        self.uploader.forget()
        self.index.clear()
        self.watcher.rewatch()
        self.watcher.rescan()
        with self._lock:
            self._set_errors(disk=None, cap=None)


class _OutboxCollector(Collector):
    """Prometheus view of `Outbox.status_dict()` (computed at scrape time, so it never drifts)."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def collect(self) -> Iterable[Metric]:
        s = self.outbox.status_dict()
        items = GaugeMetricFamily('loopnode_outbox_items', 'Items in the outbox folders', labels=['queue'])
        for queue in ('normal', 'priority', 'rejected'):
            items.add_metric([queue], s[queue])
        yield items
        yield CounterMetricFamily('loopnode_outbox_uploaded', 'Items the Loop accepted', value=s['uploaded'])
        dropped = CounterMetricFamily('loopnode_outbox_dropped', 'Images not queued or deleted unsent',
                                      labels=['reason'])
        for reason, key in (('cap', 'dropped_cap'), ('disk', 'refused_disk'), ('busy', 'dropped_busy'),
                            ('unencodable', 'skipped_unencodable')):
            dropped.add_metric([reason], s[key])
        yield dropped
        rejected = CounterMetricFamily('loopnode_outbox_rejected', 'Items moved to outbox/rejected',
                                       labels=['reason'])
        rejected.add_metric(['422'], s['rejected_422'])
        rejected.add_metric(['incomplete'], s['rejected_incomplete'])
        yield rejected
        yield CounterMetricFamily('loopnode_outbox_failed_attempts', 'Upload requests that failed (kept, retried)',
                                  value=s['failed_attempts'])
        yield GaugeMetricFamily('loopnode_outbox_last_upload_error_timestamp_seconds',
                                'Unix time of the last failed upload request (0 = none)',
                                value=self.outbox.uploader.last_error_at or 0)
        yield GaugeMetricFamily('loopnode_outbox_uploading', '1 in continuous_upload mode, 0 when stopped',
                                value=1 if s['mode'] == 'continuous_upload' else 0)
        if s['free_mb'] is not None:
            yield GaugeMetricFamily('loopnode_outbox_free_disk_megabytes', 'Free space of the data filesystem',
                                    value=s['free_mb'])
