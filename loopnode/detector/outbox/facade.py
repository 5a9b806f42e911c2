"""The detector's outbox (detector.md §9): the `Outbox` facade the API and the node use.

It wires the parts: `OutboxStore` (disk layout, atomic writes), `OutboxIndex` (order), `SaveQueue` (thread
'outbox-save'), `OutboxWatcher` (thread 'outbox-watch') and `Uploader` (thread 'outbox-upload'), and owns the
limits (MAX_OUTBOX_SIZE over autoupload items only, by OUTBOX_CAP_POLICY; the disk guard), the mode, the
`/status` numbers and the Prometheus metrics. Explicit uploads are stored whole or not at all and are never
dropped once acknowledged (issue 18; docs/outbox.md "Three classes of items").
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
from .cap import cap_drops
from .policy import cap_error_text, disk_error_text, drain_estimate, guard_threshold_mb, refused_by_guard
from .queue import NORMAL, PRIORITY, OutboxCounters, OutboxIndex
from .retry import BACKOFF_BASE, BACKOFF_CAP
from .saver import (SAVE_QUEUE_SIZE, SAVE_TIMEOUT, ImageInput, OutboxBusy, OutboxRefused, SaveCancelled,
                    SaveQueue, SaveRequest, UnencodableImage, check_encodable)
from .store import OutboxStore
from .upload import INCOMPLETE_GRACE, SETTLE_TIME, Uploader
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
                 max_size: int | None = None, min_free_mb: int | None = None, cap_policy: str | None = None,
                 backoff_base: float = BACKOFF_BASE, backoff_cap: float = BACKOFF_CAP,
                 incomplete_grace: float = INCOMPLETE_GRACE, settle_time: float = SETTLE_TIME,
                 rescan_interval: float = RESCAN_INTERVAL, save_queue_size: int = SAVE_QUEUE_SIZE,
                 save_timeout: float = SAVE_TIMEOUT,
                 id_clock: Callable[[], datetime] = datetime.now) -> None:
        self.settings = settings
        self.max_size = settings.max_outbox_size if max_size is None else max_size
        self.min_free_mb = settings.outbox_min_free_mb if min_free_mb is None else min_free_mb
        self.cap_policy = settings.outbox_cap_policy if cap_policy is None else cap_policy
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
                               size=save_queue_size, save_timeout=save_timeout)
        self.watcher.rescan()
        self.workers: list[Worker] = [
            _OutboxWorker('outbox-save', self.saver.run),
            _OutboxWorker('outbox-watch', self.watcher.run),
            _OutboxWorker('outbox-upload', self.uploader.run, on_stop=self._stop_uploader),
        ]
        self._loop_http = loop_http
        add_listener = getattr(loop_http, 'add_success_listener', None)
        if add_listener is not None:
            add_listener(self.uploader.loop_ok)
        if registry is not None:
            registry.register(_OutboxCollector(self))

    # ---- saving ------------------------------------------------------------------------------------------

    def _stop_uploader(self) -> None:
        """Shutdown: end the uploader's waits and cut its request in flight (the items stay on disk)."""
        self.uploader.poke()
        abort = getattr(self._loop_http, 'abort_uploads', None)
        if abort is not None:
            abort()

    def save(self, image: ImageInput, metadata: Any, priority: bool = False, *, wait: bool = False) -> None:
        """Queue one image (array, JPEG or other encoded bytes) with its ImageMetadata (object or dict).

        `wait=False` (autoupload) never blocks: a full save queue drops and counts the item. `wait=True`
        (explicit upload) returns once the item is durably on disk, or raises OutboxRefused (disk guard),
        UnencodableImage or OutboxBusy (then nothing was stored); an explicit item is never dropped by the cap.
        """
        if isinstance(image, np.ndarray):
            try:
                check_encodable(image)
            except UnencodableImage:
                if wait:
                    raise
                self._count_unencodable()
                return
        if wait:
            self.save_all([image], [metadata], priority)
            return
        request = SaveRequest(images=[image], metadata_json=[_metadata_json(metadata)], priority=priority)
        self.saver.submit(request, False)

    def save_all(self, images: list[ImageInput], metadata: list[Any], priority: bool = False) -> list[str]:
        """Explicit upload of several images: all are stored (durably, returns their ids) or none is.

        The disk guard is checked for the whole request; errors as `save(wait=True)`. **Addition.**
        """
        for image in images:
            if isinstance(image, np.ndarray):
                check_encodable(image)
        request = SaveRequest(images=list(images), metadata_json=[_metadata_json(m) for m in metadata],
                              priority=priority, explicit=True)
        try:
            return self.saver.submit(request, True)
        except OutboxBusy:
            self.counters.add('refused_busy_explicit', len(images))
            raise

    def _store_item(self, request: SaveRequest, jpegs: list[bytes]) -> list[str]:
        """Saver thread: disk guard for the whole request, staging, one commit (or none), index, cap."""
        queue = PRIORITY if request.priority else NORMAL
        size_mb = sum(len(j) + len(m) for j, m in zip(jpegs, request.metadata_json)) / 1e6
        with self._lock:
            free = self.free_mb()
            if refused_by_guard(free - size_mb, self.min_free_mb, request.priority):
                refused = self.counters.add('refused_disk', len(jpegs))
                if request.explicit:
                    self.counters.add('refused_disk_explicit', len(jpegs))
                self._set_errors(disk=disk_error_text(free, self.min_free_mb, refused))
                self._rate_log.warning('disk', 'outbox: free disk space %d MB below %d MB; refusing %s images '
                                       '(%d refused so far)', free, self.min_free_mb, queue, refused)
                threshold = guard_threshold_mb(self.min_free_mb, request.priority)
                what = '' if len(jpegs) == 1 else f'; none of the {len(jpegs)} images was stored'
                raise OutboxRefused(f'outbox refused: free disk space below {threshold} MB{what}')
            if not refused_by_guard(free, self.min_free_mb, False):
                self._set_errors(disk=None)
            ids = [self._ids.next_id() for _ in jpegs]
            staged = []
            try:
                for item_id, jpeg, meta in zip(ids, jpegs, request.metadata_json):
                    staged.append(self.store.stage(item_id, jpeg, meta, explicit=request.explicit))
                with request.gate:
                    if request.cancelled:
                        raise SaveCancelled()
                    for item_id in ids:
                        self.uploader.mark_own(item_id)
                    self.store.commit(queue, staged)
                    request.committed = True
            except BaseException:
                self.store.discard_staged(staged)
                for item_id in ids:
                    self.uploader.mark_own(item_id, False)
                raise
            for item_id in ids:
                self.index.add(queue, item_id, explicit=request.explicit)
            if queue == NORMAL and not request.explicit:
                self._enforce_cap()
        return ids

    def _enforce_cap(self) -> None:
        """MAX_OUTBOX_SIZE over the autoupload items only, by the cap policy (cap.py)."""
        with self._lock, self.uploader.claim_lock:
            dropped = 0
            for _ in range(3):  # again if a picked item was already gone (a stale index entry): the disk counts
                sending = self.uploader.in_flight()
                items = [ref for ref in self.index.autoupload() if ref not in sending]
                sending_auto = sum(1 for ref in sending if ref.queue == NORMAL and not self.index.is_explicit(ref))
                doomed = cap_drops(items, [ref.id for ref in items], self.max_size - sending_auto, self.cap_policy)
                gone = 0
                for ref in doomed:
                    if self.store.delete(ref):
                        dropped += 1
                    else:
                        gone += 1
                    self.index.discard(ref)
                    self.uploader.mark_own(ref.id, False)
                if not gone:
                    break
            if not dropped:
                return  # the cap error stays until uploads make progress (_recheck_cap_error)
            total = self.counters.add('dropped_cap', dropped)
            self._set_errors(cap=cap_error_text(self.max_size, total))
            self._rate_log.warning('cap', 'outbox: autoupload items over MAX_OUTBOX_SIZE=%d; dropped %d (%s, %d '
                                   'so far)', self.max_size, dropped, self.cap_policy, total)

    def _recheck_cap_error(self) -> None:
        with self._lock:
            if self._cap_error is not None and self.index.count_autoupload() <= self.max_size:
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
        backlog = self.index.class_counts()
        rate = self.uploader.drain_rate
        return {'mode': self.mode, 'normal': self.index.count(NORMAL), 'priority': self.index.count(PRIORITY),
                'rejected': len(self.store.list_rejected()), 'uploaded': c['uploaded'],
                'dropped_cap': c['dropped_cap'], 'refused_disk': c['refused_disk'],
                'rejected_422': c['rejected_422'], 'rejected_incomplete': c['rejected_incomplete'],
                'skipped_unencodable': c['skipped_unencodable'], 'dropped_busy': c['dropped_busy'],
                'failed_attempts': c['failed_attempts'], 'last_error': self.uploader.last_error,
                'free_mb': None if free == float('inf') else int(free),
                'backlog': backlog,
                'dropped_by_class': {
                    'autoupload': {'cap': c['dropped_cap'], 'busy': c['dropped_busy'],
                                   'disk': c['refused_disk'] - c['refused_disk_explicit'],
                                   'unencodable': c['skipped_unencodable']},
                    'explicit': {'cap': 0, 'refused_disk': c['refused_disk_explicit'],
                                 'refused_busy': c['refused_busy_explicit']}},
                'drain_rate': None if rate is None else round(rate, 1),
                'drain_estimate_s': drain_estimate(sum(backlog.values()), rate)}

    def reset(self) -> None:
        """Backdoor /reset (the data folder was emptied): recreate the folders, rebuild the index."""
        self.store.ensure_layout()
        self.uploader.forget()
        self.index.clear()
        self.watcher.rewatch()
        self.watcher.rescan()
        with self._lock:
            self._set_errors(disk=None, cap=None)


def _metadata_json(metadata: Any) -> bytes:
    meta = metadata.to_dict() if hasattr(metadata, 'to_dict') else dict(metadata)
    return json.dumps(meta).encode()


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
        backlog = GaugeMetricFamily('loopnode_outbox_backlog', 'Queued items per class', labels=['class'])
        for name, count in s['backlog'].items():
            backlog.add_metric([name], count)
        yield backlog
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
