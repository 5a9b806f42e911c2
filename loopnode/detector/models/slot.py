"""ModelSlot: the one reference to the active logic and the detector state (detector.md §1, §7.5, §7.9).

Each logic gets its own inference lock, so `evaluate` never runs concurrently on one instance, while a newly
swapped-in logic can serve as soon as the swap happened. A retired logic finishes its call in flight, then is
closed (`close()` if it has one). Swapping is one reference assignment under a short state lock.
"""
from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import numpy as np

from ...data import ImageMetadata, ModelInformation

log = logging.getLogger(__name__)

INITIALIZING = 'initializing'
UPDATING = 'updating'
ACTIVE = 'active'
NOT_INITIALIZED_TEXT = 'detector not yet initialized'

T = TypeVar('T')


class ModelNotReady(Exception):
    """str(e) is the API error text: 'detector not yet initialized' or 'updating model to version X'."""


def updating_text(version: str) -> str:
    return f'updating model to version {version}'


@dataclass(eq=False)
class _Loaded:
    """A built logic with its model information, its inference lock and whether it was retired."""

    logic: Any
    info: ModelInformation
    lock: threading.Lock = field(default_factory=threading.Lock)
    retired: bool = False


class ModelSlot:
    """Holds the active logic (or none) and serialises inference per logic."""

    def __init__(self) -> None:
        self._state_lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._updating_version: str | None = None

    # ---- state ----------------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """'initializing' | 'updating' | 'active'."""
        with self._state_lock:
            return self._state_unlocked()

    def _state_unlocked(self) -> str:
        if self._updating_version is not None:
            return UPDATING
        return ACTIVE if self._loaded is not None else INITIALIZING

    @property
    def updating_version(self) -> str | None:
        with self._state_lock:
            return self._updating_version

    @property
    def active_info(self) -> ModelInformation | None:
        with self._state_lock:
            return None if self._loaded is None else self._loaded.info

    @property
    def active_version(self) -> str | None:
        info = self.active_info
        return None if info is None else info.version

    def not_ready_text(self) -> str | None:
        """The ModelNotReady text for the current state, or None when a model is active."""
        with self._state_lock:
            if self._updating_version is not None:
                return updating_text(self._updating_version)
            return None if self._loaded is not None else NOT_INITIALIZED_TEXT

    def check_ready(self) -> None:
        """Raise ModelNotReady unless a model is active (fail fast, before decoding an image)."""
        text = self.not_ready_text()
        if text is not None:
            raise ModelNotReady(text)

    # ---- inference ------------------------------------------------------------------------------------

    def _run_locked(self, call: Callable[[_Loaded], T]) -> tuple[T, ModelInformation]:
        """Run `call(loaded)` holding the active logic's inference lock; retry once if it was retired meanwhile."""
        while True:
            with self._state_lock:
                loaded = self._loaded
                text = None if loaded is not None else self._not_ready_unlocked()
            if loaded is None:
                raise ModelNotReady(text)
            with loaded.lock:
                if loaded.retired:
                    continue  # swapped while we waited: use the new logic (or report the new state)
                return call(loaded), loaded.info

    def _not_ready_unlocked(self) -> str:
        if self._updating_version is not None:
            return updating_text(self._updating_version)
        return NOT_INITIALIZED_TEXT

    def evaluate(self, image: np.ndarray) -> tuple[ImageMetadata, ModelInformation]:
        """One image through the active logic; logic exceptions pass through unchanged."""
        return self._run_locked(lambda loaded: loaded.logic.evaluate(image))

    def batch_evaluate(self, images: list[np.ndarray]) -> tuple[list[ImageMetadata], ModelInformation]:
        """A batch through the active logic; falls back to per-image `evaluate` under the same lock hold."""
        def call(loaded: _Loaded) -> list[ImageMetadata]:
            batch = getattr(loaded.logic, 'batch_evaluate', None)
            if batch is not None:
                try:
                    result = batch(images)
                except NotImplementedError:
                    pass
                else:
                    items = getattr(result, 'items', result)
                    return list(items)
            return [loaded.logic.evaluate(image) for image in images]
        return self._run_locked(call)

    # ---- swapping (model worker only) -----------------------------------------------------------------

    def activate(self, logic: Any, info: ModelInformation) -> None:
        """Make `logic` the active one in one step; the previous logic is retired after its call in flight."""
        new = _Loaded(logic, info)
        with self._state_lock:
            old, self._loaded = self._loaded, new
            self._updating_version = None
        if old is not None:
            self._retire(old)

    def begin_update(self, version: str) -> None:
        """Exclusive rebuild: wait for the call in flight, enter `Updating(version)`, retire the old logic, gc."""
        with self._state_lock:
            old = self._loaded
        if old is not None:
            old.lock.acquire()
        try:
            with self._state_lock:
                self._updating_version = version
                if self._loaded is old:
                    self._loaded = None
        finally:
            if old is not None:
                old.retired = True
                old.lock.release()
        if old is not None:
            _close(old)
            del old
        gc.collect()

    def set_updating(self, version: str) -> None:
        """Report `Updating(version)` (e.g. while rebuilding the previous version after a failure)."""
        with self._state_lock:
            self._updating_version = version

    def end_update(self) -> None:
        """Leave `Updating`: `Active` if a logic was activated meanwhile, else `Initializing`."""
        with self._state_lock:
            self._updating_version = None

    def clear(self) -> None:
        """Retire the active logic and go to `Initializing` (backdoor reset)."""
        with self._state_lock:
            old, self._loaded = self._loaded, None
            self._updating_version = None
        if old is not None:
            self._retire(old)

    @staticmethod
    def _retire(old: _Loaded) -> None:
        with old.lock:  # waits for the call in flight
            old.retired = True
        _close(old)


def _close(loaded: _Loaded) -> None:
    close = getattr(loaded.logic, 'close', None)
    if close is None:
        return
    try:
        close()
    except Exception:  # noqa: BLE001 - a failing close must not break the swap
        log.exception('close() of the logic for model %s failed', loaded.info.version)
