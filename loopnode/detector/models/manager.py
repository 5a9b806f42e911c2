"""ModelManager: the detector's model management and its `model` worker thread (detector.md §6, §7).

The repeat cycle calls `poll_target()` (operation mode idle only); it reads the Loop's deployment target and
hands a due update to the `model` worker, which fetches (reuse, or download + safe unzip), builds, swaps,
commits `current_model` and prunes. Failures keep the current model serving and become the status error
`update_model`; the rules (modes, backoff, skipping) live in the pure `versions` module.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ...data import DataError, ModelInformation, ModelVersionResponse, VersionMode
from ...errors import NodeNeedsRestartError
from ...logs import RateLimitedLog
from ...loop.http import LoopHttp
from ...loop.transfer import (CURRENT_MODEL, MODEL_JSON, ArtifactError, TransferError, current_model_version,
                             fetch_model, is_reusable_model, local_versions, point_current_model, remove_leftovers)
from ...service.workers import Worker
from ...settings import Settings
from .jobs import LOAD_CURRENT, RESET_WAIT, ModelWorker, ResetJob
from .loop_queries import VersionRequestError, fetch_deployment_target, find_loop_model
from .slot import ACTIVE, UPDATING, ModelSlot, updating_text
from .versions import (BACKOFF_BASE, FOLLOW_LOOP, PAUSE, FailureKind, Target, VersionControl, is_valid_version,
                       parse_version_request, versions_to_prune)

log = logging.getLogger(__name__)


class ModelManager:
    """Version control, downloads, builds and swaps of the detector's model."""

    def __init__(self, settings: Settings, factory: Any, loop_http: LoopHttp, *,
                 on_change: Callable[[], None], clock: Callable[[], float] = time.monotonic,
                 backoff_base: float = BACKOFF_BASE) -> None:
        self.settings = settings
        self.factory = factory
        self.http = loop_http
        self.data_folder = settings.data_folder
        self.models_folder = settings.data_folder / 'models'
        self.slot = ModelSlot()
        self.startup_done = threading.Event()
        self._on_change = on_change
        self._lock = threading.Lock()
        self._control = VersionControl(settings.version_control_default, clock=clock, backoff_base=backoff_base)
        self._pending: Target | str | ResetJob | None = None
        self._busy = True  # until the start-up load has ended
        self._wake = threading.Event()
        self._cancel = threading.Event()  # set by stop and reset: the job in flight gives up its download
        self._rate_log = RateLimitedLog(log)
        self.worker: Worker = ModelWorker(self._run, self._wake, self._cancel)
        self.models_folder.mkdir(parents=True, exist_ok=True)
        remove_leftovers(self.data_folder)

    # ---- worker ---------------------------------------------------------------------------------------

    def _run(self, stop: threading.Event) -> None:
        try:
            self._load_current(startup=True)
        finally:
            with self._lock:
                self._busy = False
            self.startup_done.set()
        while not stop.is_set():
            self._wake.wait()
            self._wake.clear()
            while not stop.is_set():
                with self._lock:
                    job, self._pending = self._pending, None
                    self._busy = job is not None
                    if not stop.is_set():
                        self._cancel.clear()
                if job is None:
                    break
                try:
                    if isinstance(job, ResetJob):
                        self._reset(job)
                    elif job == LOAD_CURRENT:
                        self._load_current(startup=False)
                    elif isinstance(job, Target):
                        self._update(job)
                except NodeNeedsRestartError:
                    raise
                except Exception:  # noqa: BLE001 - one bad job must not end the model thread (healthz, watchdog)
                    log.exception('model job %s failed unexpectedly', job)
                finally:
                    with self._lock:
                        self._busy = False

    def _offer_job(self) -> None:
        """§7.3 step 5: hand a due target to the worker unless it is busy."""
        with self._lock:
            if self._busy or self._pending is not None:
                return
            target = self._control.next_job(self.slot.active_version)
            if target is None:
                return
            self._pending = target
        self._wake.set()

    def _queue(self, job: Target | str) -> None:
        with self._lock:
            if not isinstance(self._pending, ResetJob):  # a reset waiting for the worker comes first
                self._pending = job
        self._wake.set()

    # ---- update job -----------------------------------------------------------------------------------

    def _update(self, target: Target) -> None:
        version = target.version
        log.info('updating model to version %s (%s)', version, target.id)
        try:
            folder = self.models_folder / version
            if not is_reusable_model(folder, self.factory.model_format):
                folder = fetch_model(self.http, target.id, version, self.factory.model_format, self.data_folder,
                                     cancel=self._cancel)
            if self._cancel.is_set():
                log.info('update to %s interrupted by shutdown or reset', version)
                return
            info = self._read_info(folder)
            if info.version != version:  # else it would be built, found not to be the target, and rebuilt each cycle
                raise ArtifactError(f'model.json in models/{version} names version {info.version}')
            self._build_and_swap(info)
        except NodeNeedsRestartError:
            raise
        except TransferError as e:
            if self._cancel.is_set():
                log.info('update to %s interrupted by shutdown or reset', version)
                return
            self._fail(version, FailureKind(e.kind), str(e))
            return
        except Exception as e:  # noqa: BLE001 - an unexpected error (disk full …) is retried, never skipped
            log.exception('update to %s failed unexpectedly', version)
            self._fail(version, FailureKind.TRANSPORT, f'{type(e).__name__}: {e}')
            return
        self._commit(info)

    def _read_info(self, folder: Path) -> ModelInformation:
        """Strict parse of `model.json`; `model_root_path` set to the absolute folder. ArtifactError otherwise."""
        try:
            info = ModelInformation.from_dict(json.loads((folder / MODEL_JSON).read_text(encoding='utf-8')))
        except (OSError, ValueError, DataError) as e:
            raise ArtifactError(f'invalid model.json: {e}') from None
        info.model_root_path = str(folder.absolute())
        return info

    def _build(self, info: ModelInformation) -> Any:
        try:
            return self.factory.build(info)
        except NodeNeedsRestartError:
            raise
        except Exception as e:  # noqa: BLE001 - any build error is an artifact failure of that version
            log.exception('build of model %s failed', info.version)
            raise ArtifactError(f'build of version {info.version} failed: {type(e).__name__}: {e}') from None

    def _build_and_swap(self, info: ModelInformation) -> None:
        """§7.5: build beside the serving logic and swap, or (exclusive) free the old one first with fallback."""
        previous = self.slot.active_info
        if not self.settings.exclusive_model_build or previous is None:  # nothing to free: stay Initializing
            self.slot.activate(self._build(info), info)
            return
        self.slot.begin_update(info.version)
        try:
            try:
                logic = self._build(info)
            except ArtifactError as e:
                if previous.version != info.version:
                    self._rebuild_previous(previous, e)
                raise
            self.slot.activate(logic, info)
        finally:
            self.slot.end_update()

    def _rebuild_previous(self, previous: ModelInformation, error: ArtifactError) -> None:
        log.warning('rebuilding the previous model %s after: %s', previous.version, error)
        self.slot.set_updating(previous.version)
        try:
            self.slot.activate(self._build(previous), previous)
        except ArtifactError as e2:
            log.error('the previous model %s failed too; no model is active: %s', previous.version, e2)

    def _commit(self, info: ModelInformation) -> None:
        """§7.3 step 4: current_model, folder mtime, error cleared, prune, status sync."""
        version = info.version
        try:
            point_current_model(self.data_folder, version)
            os.utime(self.models_folder / version)
        except OSError:
            log.exception('could not record model %s as current_model', version)
        with self._lock:
            self._control.record_success(version)
        self._prune()
        log.info('model %s is active', version)
        self._on_change()

    def _fail(self, version: str, kind: FailureKind, cause: str) -> None:
        """§7.6: book the failure, delete a bad version folder (never the active one), request a status sync."""
        with self._lock:
            text = self._control.record_failure(version, kind, cause)
            retry_in = self._control.retry_in(version)
        log.warning('%s (%s failure; next try in %.0f s unless skipped)', text, kind.value, retry_in)
        if kind == FailureKind.ARTIFACT and version not in (self.slot.active_version, current_model_version(self.data_folder)):
            shutil.rmtree(self.models_folder / version, ignore_errors=True)
        self._on_change()

    # ---- current_model and pruning --------------------------------------------------------------------

    def _prune(self) -> None:
        """§7.7: keep active + target, then the most recently activated, until KEEP_MODELS remain."""
        with self._lock:
            target = None if self._control.target is None else self._control.target.version
        mtimes: dict[str, float] = {}
        for version in local_versions(self.models_folder):
            try:
                mtimes[version] = (self.models_folder / version).stat().st_mtime
            except OSError:
                continue
        for version in versions_to_prune(mtimes, self.settings.keep_models, [self.slot.active_version, target]):
            log.info('pruning model %s (KEEP_MODELS=%d)', version, self.settings.keep_models)
            shutil.rmtree(self.models_folder / version, ignore_errors=True)

    # ---- start-up load and reloads --------------------------------------------------------------------

    def _load_current(self, *, startup: bool) -> None:
        """§7.8: build the model `current_model` points to, if any; a failure is an artifact failure."""
        link = self.data_folder / CURRENT_MODEL
        folder = link.resolve() if link.exists() else None
        if folder is None or not is_reusable_model(folder, self.factory.model_format):
            log.info('no model of format %s in %s; waiting for a target', self.factory.model_format, link)
            return
        version = folder.name if is_valid_version(folder.name) else None
        try:
            info = self._read_info(folder)
            version = version or info.version
            info.version = version
            log.info('%s model %s from %s', 'loading' if startup else 'reloading', version, folder)
            self._build_and_swap(info)
        except NodeNeedsRestartError:
            raise
        except ArtifactError as e:
            self._fail(version or folder.name, FailureKind.ARTIFACT, str(e))
            return
        try:
            os.utime(folder)
        except OSError:  # e.g. a folder another user owns: pruning order only, never worth a dead worker
            log.warning('could not touch %s', folder)
        with self._lock:
            self._control.record_success(version)
        self._on_change()

    def soft_reload(self) -> None:
        """§3.3: default mode, forget target, clear failures/skips/error, rebuild current_model."""
        with self._lock:
            self._control.restore_default()
        self._queue(LOAD_CURRENT)
        self._on_change()

    def reset(self, wipe: Callable[[], None] | None = None, timeout: float = RESET_WAIT) -> bool:
        """Backdoor /reset: as soft_reload's state reset (default mode, no target, no failures or error), but
        the logic is retired (Initializing) instead of rebuilt, and `wipe` (delete the data) runs in between.

        It runs on the model worker after the job in flight (whose download is cancelled), so that job cannot
        activate a model or write `current_model` after the wipe. Waits up to `timeout` s; False if it is
        still waiting then (it happens later, in order).
        """
        job = ResetJob(wipe)
        with self._lock:
            self._pending = job
            self._cancel.set()
        self._wake.set()
        if job.done.wait(timeout):
            return True
        log.warning('reset: the model worker is still busy after %.0f s; the reset follows when it is done', timeout)
        return False

    def _reset(self, job: ResetJob) -> None:
        try:
            self.slot.clear()
            if job.wipe is not None:
                job.wipe()
            self.models_folder.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._control.restore_default()
        finally:
            job.done.set()
        self._on_change()

    # ---- target poll ----------------------------------------------------------------------------------

    def poll_target(self) -> None:
        """§7.3 steps 3-5; called by the repeat cycle only in operation mode idle."""
        loop_target = fetch_deployment_target(self.http, self._rate_log)
        with self._lock:
            if loop_target is not False:
                self._control.on_loop_target(loop_target)  # type: ignore[arg-type]
            settled = self._control.settle(self.slot.active_version)
        if settled:
            self._on_change()
        self._offer_job()

    # ---- PUT /model_version ---------------------------------------------------------------------------

    def set_version_control(self, text: str) -> None:
        """§7.2: follow_loop, pause or a version; raises VersionRequestError with the 400 message."""
        try:
            mode, version = parse_version_request(text)
        except ValueError as e:
            raise VersionRequestError(str(e)) from None
        if mode in (FOLLOW_LOOP, PAUSE):
            with self._lock:
                if mode == FOLLOW_LOOP:
                    self._control.follow_loop()
                else:
                    self._control.pause()
                self._control.settle(self.slot.active_version)
            self._on_change()
            return
        assert version is not None
        with self._lock:
            current = self._control.target
        target = current if current is not None and current.version == version else None
        target = target or self._local_target(version) or find_loop_model(self.http, version)
        with self._lock:
            self._control.choose(target)
            self._control.settle(self.slot.active_version)
        self._on_change()

    def _local_target(self, version: str) -> Target | None:
        folder = self.models_folder / version
        if not (folder / MODEL_JSON).is_file():
            return None
        try:
            info = self._read_info(folder)
        except ArtifactError as e:
            log.warning('local model %s is unusable (%s); asking the Loop', version, e)
            return None
        return Target(info.id, version, info.host)

    # ---- reporting ------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while the model worker runs a job (or the start-up load)."""
        with self._lock:
            return self._busy

    @property
    def version_control(self) -> str:
        with self._lock:
            return self._control.mode

    @property
    def target_version(self) -> str | None:
        with self._lock:
            return None if self._control.target is None else self._control.target.version

    def status_error(self) -> str | None:
        """The status error `update_model`, or None."""
        with self._lock:
            return self._control.error

    def version_response(self) -> dict[str, Any]:
        """ModelVersionResponse (§4.5); absent versions are the string "None"."""
        with self._lock:
            target, loop_target, mode = self._control.target, self._control.loop_target, self._control.mode
        return ModelVersionResponse(
            current_version=self.slot.active_version or 'None',
            target_version='None' if target is None else target.version,
            loop_version='None' if loop_target is None else loop_target.version,
            local_versions=local_versions(self.models_folder), version_control=VersionMode(mode)).to_dict()

    def status_dict(self) -> dict[str, Any]:
        """The `model` part of `GET /status`."""
        with self._lock:
            c = self._control
            target, loop_target, mode, error, skipped = c.target, c.loop_target, c.mode, c.error, c.skipped
        return {'state': self.slot.state, 'active_version': self.slot.active_version,
                'target': None if target is None else target.version, 'version_control': mode,
                'loop_target': None if loop_target is None else loop_target.version,
                'last_error': error, 'skipped_versions': skipped}

    def readiness_reason(self) -> str | None:
        """None when a model is active; else 'starting' | 'no model' | 'updating model to version X'."""
        state = self.slot.state
        if state == ACTIVE:
            return None
        if state == UPDATING:
            return updating_text(self.slot.updating_version or '?')
        return 'no model' if self.startup_done.is_set() else 'starting'
