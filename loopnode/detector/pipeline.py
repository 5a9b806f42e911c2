"""The request-side path shared by REST and Socket.IO: readiness check, inference, normalised copy, autoupload
and explicit uploads (detector.md §2.2 steps 2-7, §3.3, §9.2). Errors are `ApiError(status, message)`.

It never waits for the Loop, the disk or a model build: autoupload hands the image (original bytes or the
raw array, never re-encoded here) to the outbox without waiting; only an explicit upload waits for its save.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Histogram

from ..data import ImageMetadata, ModelInformation
from ..errors import NodeNeedsRestartError
from ..logs import RateLimitedLog
from .relevance import RelevanceFilter
from .results import DetectParams, ResultError, add_tags, normalised_copy, upload_metadata
from .models.slot import ModelNotReady, ModelSlot

if TYPE_CHECKING:
    from .outbox import Outbox


log = logging.getLogger(__name__)

OUTBOX_ERROR_STATUS = {'OutboxRefused': 507, 'UnencodableImage': 400, 'OutboxBusy': 503}


class ApiError(Exception):
    """An error answer: REST `status` with `{"error": message}`, Socket.IO `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DetectionPipeline:
    """Runs detections and uploads for the API handlers; thread-safe (one instance per node)."""

    def __init__(self, slot: 'ModelSlot', outbox: 'Outbox', relevance: RelevanceFilter, *,
                 on_restart: Callable[[], None], registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.slot = slot
        self.outbox = outbox
        self.relevance = relevance
        self._on_restart = on_restart
        self._clock = clock
        self._rounding_warned: set[int] = set()
        self._lock = threading.Lock()
        self._rate_log = RateLimitedLog(log)
        self._inference = Histogram('loopnode_inference_seconds', 'Time spent in evaluate/batch_evaluate',
                                    registry=registry)

    # ---- detection ---------------------------------------------------------------------------------------

    def check_ready(self) -> None:
        """Fail fast (503) before decoding when no model is active or an exclusive update runs."""
        try:
            self.slot.check_ready()
        except ModelNotReady as e:
            raise ApiError(503, str(e)) from None

    def detect(self, image: np.ndarray, stored: np.ndarray | bytes, params: DetectParams) -> dict[str, Any]:
        """The answer dict for one image; autoupload per `params` (never delays or fails the answer)."""
        result, info = self._call(self.slot.evaluate, image)
        return self._answer(result, info, stored, params)

    def batch_detect(self, images: Sequence[np.ndarray], stored: Sequence[np.ndarray | bytes],
                     params: DetectParams) -> list[dict[str, Any]]:
        """Answer dicts in input order for a batch (per-image `evaluate` fallback lives in ModelSlot)."""
        results, info = self._call(self.slot.batch_evaluate, list(images))
        if len(results) != len(images):
            raise ApiError(500, f'batch_evaluate returned {len(results)} items for {len(images)} images')
        return [self._answer(result, info, item, params) for result, item in zip(results, stored)]

    def _call(self, method: Callable[[Any], Any], arg: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(arg)
        except ModelNotReady as e:
            raise ApiError(503, str(e)) from None
        except NodeNeedsRestartError as e:
            log.error('the logic needs a process restart: %s', e)
            self._on_restart()
            raise ApiError(500, str(e) or 'NodeNeedsRestartError') from None
        except Exception as e:  # noqa: BLE001 - a logic error answers 500 with its text
            log.exception('evaluate failed')
            raise ApiError(500, str(e) or type(e).__name__) from None
        finally:
            self._inference.observe(time.perf_counter() - started)

    def _answer(self, result: Any, info: ModelInformation | None, stored: np.ndarray | bytes,
                params: DetectParams) -> dict[str, Any]:
        try:
            metadata, rounded = normalised_copy(result, params.tags, params.created, params.source)
        except (ResultError, TypeError, ValueError, AttributeError, OverflowError) as e:
            log.error('unusable result from evaluate: %s', e)
            raise ApiError(500, str(e)) from None
        if rounded:
            self._warn_rounding(info)
        answer = metadata.to_dict()  # built before the causes are appended to the stored copy
        if params.autoupload != 'disabled':
            self._autoupload(metadata, stored, params)
        return answer

    def _warn_rounding(self, info: ModelInformation | None) -> None:
        key = id(info)
        with self._lock:
            if key in self._rounding_warned:
                return
            self._rounding_warned.add(key)
        log.warning('the logic of model %s returns fractional box coordinates; they are rounded to ints',
                    getattr(info, 'version', '?'))

    def _autoupload(self, metadata: ImageMetadata, stored: np.ndarray | bytes, params: DetectParams) -> None:
        if params.autoupload == 'filtered':
            causes = self.relevance.causes(metadata, params.camera_id, self._clock())
            if not causes:
                return
            add_tags(metadata, causes)
        try:
            self.outbox.save(stored, metadata, False, wait=False)
        except Exception as e:  # noqa: BLE001 - queueing never fails the answer
            self._rate_log.warning('autoupload', 'autoupload could not queue the image: %s', e)

    # ---- explicit uploads ----------------------------------------------------------------------------------

    def upload_metadata(self, raw: Any) -> ImageMetadata:
        """§3.4 metadata of a Socket.IO upload (ParameterError on bad input); warnings are logged."""
        parsed = upload_metadata(raw, self.slot.active_info, datetime.now())
        for warning in parsed.warnings:
            log.warning('%s', warning)
        if parsed.unknown_keys:
            log.debug('upload metadata: ignoring unknown keys %s', parsed.unknown_keys)
        return parsed.metadata

    def store(self, image: np.ndarray | bytes, metadata: ImageMetadata, priority: bool) -> None:
        """Save one explicit upload and wait until it is durably on disk; outbox refusals → ApiError."""
        self.store_all([image], [metadata], priority)

    def store_all(self, images: Sequence[np.ndarray | bytes], metadata: Sequence[ImageMetadata],
                  priority: bool) -> None:
        """Save explicit uploads all together (durably) or none of them; outbox refusals → ApiError."""
        try:
            self.outbox.save_all(list(images), list(metadata), priority)
        except Exception as e:
            status = OUTBOX_ERROR_STATUS.get(type(e).__name__)
            if status is None:
                log.exception('upload could not be stored')
                raise ApiError(500, f'could not store the image: {e}') from None
            raise ApiError(status, str(e)) from None
