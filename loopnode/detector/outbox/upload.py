"""The `outbox-upload` thread (detector.md §9.6): batches of 20 to `POST P/images`, bisection, backoff.

While items exist it uploads back to back; failures wait a jittered exponential backoff (5 s → 60 s by
default, retry.py), a 429 waits `Retry-After` exactly. A backoff wait ends early on a mode change, on
shutdown and when another Loop call succeeds (`loop_ok`). A request in flight finishes (bounded by its
timeout) unless the node shuts down, which cuts its connection (`LoopHttp.abort_uploads`); its items stay.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import requests

from ...backoff import parse_retry_after
from ...logs import RateLimitedLog
from ...loop.http import LoopHttp
from .policy import (BATCH_SIZE, RETRY_AFTER_CAP, Answer, Verdict, batch_timeout, classify,
                            upload_bisecting)
from .queue import ItemRef, OutboxCounters, OutboxIndex
from .retry import BACKOFF_BASE, BACKOFF_CAP, RetrySchedule
from .store import OutboxStore

log = logging.getLogger(__name__)

INCOMPLETE_GRACE = 60.0
SETTLE_TIME = 1.0   # files of foreign items (copied in) must be this old before upload
IDLE_WAIT = 5.0
RATE_SMOOTHING = 0.3  # weight of the newest batch in the drain rate (items/s while sending)


@dataclass(frozen=True)
class PreparedItem:
    """An item read from disk for one request."""

    ref: ItemRef
    jpeg: bytes
    json: bytes


class Uploader:
    """Drains the index to the Loop; `run(stop)` is the thread body."""

    def __init__(self, store: OutboxStore, index: OutboxIndex, http: LoopHttp, counters: OutboxCounters, *,
                 is_enabled: Callable[[], bool], on_change: Callable[[], None] = lambda: None,
                 backoff_base: float = BACKOFF_BASE, backoff_cap: float = BACKOFF_CAP,
                 incomplete_grace: float = INCOMPLETE_GRACE, settle_time: float = SETTLE_TIME,
                 batch_size: int = BATCH_SIZE, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, rng: random.Random | None = None) -> None:
        self.store = store
        self.index = index
        self.http = http
        self.counters = counters
        self._is_enabled = is_enabled
        self._on_change = on_change  # after uploads/rejections: the facade re-checks the cap error
        self.schedule = RetrySchedule(backoff_base, backoff_cap, clock=clock, rng=rng or random.Random())
        self.drain_rate: float | None = None  # items/s of recent successful requests
        self.incomplete_grace = incomplete_grace
        self.settle_time = settle_time
        self.batch_size = batch_size
        self._clock = clock
        self._wall_clock = wall_clock
        self.wake = threading.Event()       # a new item, a mode change or shutdown
        self.interrupt = threading.Event()  # a mode change or shutdown: ends backoff waits
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.requests_sent = 0
        self._incomplete_since: dict[ItemRef, float] = {}
        self._deferred: dict[ItemRef, float] = {}
        self._own: set[str] = set()
        self._own_lock = threading.Lock()
        self.claim_lock = threading.Lock()  # held by the cap while it picks and deletes; see `in_flight`
        self._in_flight: set[ItemRef] = set()  # items read for the current request: the cap leaves them
        self._rate_log = RateLimitedLog(log)

    # ---- called from other threads ----------------------------------------------------------------------

    def mark_own(self, item_id: str, own: bool = True) -> None:
        """Called before our own atomic write (the observer may report it first): no settle time needed."""
        with self._own_lock:
            if own:
                self._own.add(item_id)
            else:
                self._own.discard(item_id)

    def in_flight(self) -> frozenset[ItemRef]:
        """Items claimed for the request in progress (call with `claim_lock` held): the cap must not drop
        them, they may reach the Loop. An item is claimed under the lock before its files are read."""
        return frozenset(self._in_flight)

    def poke(self) -> None:
        """Mode change or shutdown: end every wait now."""
        self.interrupt.set()
        self.wake.set()

    def loop_ok(self) -> None:
        """Another Loop call succeeded: end a backoff wait (not a Retry-After wait) and reset the backoff."""
        if self.schedule.loop_ok():
            log.info('outbox: the Loop answers again; resuming uploads')
            self.interrupt.set()

    def forget(self) -> None:
        """Backdoor reset: drop per-item bookkeeping."""
        self._incomplete_since.clear()
        self._deferred.clear()
        with self._own_lock:
            self._own.clear()

    # ---- the thread --------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.interrupt.clear()
            self.wake.clear()
            if stop.is_set():  # stop() may have set both events just before they were cleared
                break
            if not self._is_enabled():
                self.interrupt.wait(1.0)
                continue
            try:
                batch, next_due = self._take_batch()
                if not batch:
                    self._release_claims()
                    self.wake.wait(min(IDLE_WAIT, next_due) if next_due is not None else IDLE_WAIT)
                    continue
                self._upload(batch, stop)
            except Exception:  # noqa: BLE001 - the uploader must survive anything; back off and go on
                log.exception('outbox upload round failed')
                self._release_claims()
                self._pause(self.schedule.failed())

    def _release_claims(self) -> None:
        with self.claim_lock:
            self._in_flight.clear()

    def _upload(self, batch: list[PreparedItem], stop: threading.Event) -> None:
        if stop.is_set():
            self._release_claims()
            return
        started = self._clock()
        result = upload_bisecting(batch, self._send, keep_going=lambda: not stop.is_set() and self._is_enabled())
        if result.uploaded:
            rate = len(result.uploaded) / max(1e-3, self._clock() - started)
            old = self.drain_rate
            self.drain_rate = rate if old is None else old + RATE_SMOOTHING * (rate - old)
        for item in result.uploaded:
            self.store.delete(item.ref)
            self._settle_bookkeeping(item.ref)
        if result.uploaded:
            self.counters.add('uploaded', len(result.uploaded))
            log.debug('outbox: uploaded %d items', len(result.uploaded))
        for item, reason in result.rejected:
            if self.store.reject(item.ref, reason):
                self.counters.add('rejected_422')
                log.warning('outbox: the Loop refused item %s/%s; moved to rejected/ (%s)', item.ref.queue,
                            item.ref.id, reason[:300])
            self._settle_bookkeeping(item.ref)
        self._release_claims()
        if result.uploaded or result.rejected:
            self._on_change()
        answer = result.stopped
        if answer is None:
            if result.uploaded:
                self.schedule.succeeded()
                self.last_error = None
            return
        if stop.is_set():
            return  # cut at shutdown: the items stay for the next start
        if answer.verdict is Verdict.RATE_LIMITED:
            wait = self.schedule.rate_limited(answer.retry_after)
        else:
            wait = self.schedule.failed()
            self.counters.add('failed_attempts')
        self._rate_log.warning('upload-failed', 'outbox upload failed (%s); %d items kept, next try in %.1f s',
                               answer.detail[:300], len(batch) - len(result.uploaded) - len(result.rejected),
                               wait)
        self._pause(wait)

    def _settle_bookkeeping(self, ref: ItemRef) -> None:
        self.index.discard(ref)
        self._incomplete_since.pop(ref, None)
        self._deferred.pop(ref, None)
        with self._own_lock:
            self._own.discard(ref.id)

    def _pause(self, seconds: float) -> None:
        """Backoff wait; ends early on a mode change or shutdown."""
        if seconds > 0:
            self.interrupt.wait(seconds)

    # ---- picking a batch -----------------------------------------------------------------------------------

    def _take_batch(self) -> tuple[list[PreparedItem], float | None]:
        """Up to `batch_size` complete items in upload order; also time until a deferred item is due."""
        now = self._clock()
        for ref in [r for r, due in self._deferred.items() if due <= now]:
            del self._deferred[ref]
        batch: list[PreparedItem] = []
        for ref in self.index.iter_order(10 ** 9, exclude=self._deferred.keys()):
            if len(batch) >= self.batch_size:
                break
            item = self._prepare(ref, now)
            if item is not None:
                batch.append(item)
        next_due = min(self._deferred.values()) - now if self._deferred else None
        return batch, next_due

    def _prepare(self, ref: ItemRef, now: float) -> PreparedItem | None:
        with self.claim_lock:
            self._in_flight.add(ref)
        data = self.store.read(ref)
        if data is not None:
            if not self._settled(ref):
                self._deferred[ref] = now + self.settle_time
                return None
            self._incomplete_since.pop(ref, None)
            return PreparedItem(ref, data[0], data[1])
        if not self.store.exists(ref):
            self._settle_bookkeeping(ref)  # uploaded, dropped by the cap or removed by hand
            return None
        first = self._incomplete_since.setdefault(ref, now)
        if now - first >= self.incomplete_grace:
            if self.store.reject(ref, 'incomplete item'):
                self.counters.add('rejected_incomplete')
                log.warning('outbox: item %s/%s lacks its .jpg or .json for %.0f s; moved to rejected/',
                            ref.queue, ref.id, now - first)
            self._settle_bookkeeping(ref)
            self._on_change()
        else:
            self._deferred[ref] = now + min(1.0, self.incomplete_grace - (now - first))
        return None

    def _settled(self, ref: ItemRef) -> bool:
        """Our own items are complete by construction; foreign ones must not have changed for a moment."""
        with self._own_lock:
            if ref.id in self._own:
                return True
        if self.settle_time <= 0:
            return True
        files = self.store.files(ref)
        try:
            newest = max(files.jpg.stat().st_mtime, files.json.stat().st_mtime)
        except OSError:
            return False
        return self._wall_clock() - newest >= self.settle_time

    # ---- one request ------------------------------------------------------------------------------------------

    def _send(self, items: Sequence[PreparedItem]) -> Answer:
        parts: list[tuple[str, bytes, str]] = []
        for item in items:
            parts.append((f'image_{item.ref.id}.json', item.json, 'application/json'))
            parts.append((f'image_{item.ref.id}.jpg', item.jpeg, 'image/jpeg'))
        self.requests_sent += 1
        try:
            response = self.http.upload('POST', self.http.project_path('/images'), parts,
                                        timeout=batch_timeout(len(items)), retry_429=False)
        except requests.RequestException as e:  # LoopLoginError included
            return self._failed(f'{type(e).__name__}: {e}')
        with response:
            status = response.status_code
            body = response.text[:1000]
            retry_after = parse_retry_after(response.headers.get('Retry-After'), cap=RETRY_AFTER_CAP)
        verdict = classify(status)
        if verdict is Verdict.OK:
            return Answer(verdict)
        detail = f'{status}: {body}'
        if verdict is not Verdict.SPLIT:
            self._failed(f'HTTP {detail}')
        return Answer(verdict, detail, retry_after if verdict is Verdict.RATE_LIMITED else None)

    def _failed(self, text: str) -> Answer:
        self.last_error = text[:500]
        self.last_error_at = self._wall_clock()
        return Answer(Verdict.RETRY, text)
