"""DetectorNode: the NodeService wiring of the detector (detector.md §1, §8) and the CLI runner.

Start-up order (§1): the HTTP + Socket.IO server starts at once with operation mode `startup`; the model
worker loads `current_model`; when that attempt ends the mode becomes `idle` and the repeat cycle starts.
The repeat cycle requests a status sync every SYNC_CYCLES cycles and polls the deployment target only in
mode `idle`. Status posts run on the `status` thread; no API request waits for the Loop.
"""
from __future__ import annotations

import logging
import shutil
import threading
from typing import Any

from ..data import AboutResponse, DetectorStatus, OperationMode, VersionMode
from ..service.datalock import LOCK_NAME
from ..service.memory import HeapTrimmer
from ..service.launch import run_logic_node
from ..service.node import EXIT_RESTART, NodeService
from ..service.workers import PeriodicWorker, Worker
from ..settings import Settings
from .api.clients import ClientSet
from .api.rest import register_rest_routes
from .api.sio import register_socketio_handlers
from .logic import DetectorFactory
from .models import ModelManager, VersionRequestError
from .outbox import Outbox
from .page import register_detector_page
from .pipeline import DetectionPipeline
from .relevance import RelevanceFilter
from .status import StatusSender

log = logging.getLogger(__name__)

OPERATION_MODES = tuple(mode.value for mode in OperationMode)
KEEP_ON_RESET = frozenset({'uuids.json', LOCK_NAME})  # the lock: an unlinked one would admit a 2nd process


class DetectorNode(NodeService):
    """A detector serving `factory`'s logics over REST and Socket.IO; `start()`/`stop()` or `run()`."""

    node_type = 'detector'

    def __init__(self, factory: DetectorFactory, *, name: str | None = None, uuid: str | None = None,
                 settings: Settings | None = None) -> None:
        super().__init__(settings or Settings.from_env(node_type='detector'), name=name, uuid=uuid)
        self.factory = factory
        self._mode_lock = threading.Lock()
        self._operation_mode = OperationMode.Startup.value
        self._cycles = 0
        self.sio_clients = ClientSet()
        self.relevance = RelevanceFilter(self.settings.min_uncertain_threshold,
                                         self.settings.max_uncertain_threshold)
        self.status_sender = StatusSender(self.loop_http, self.status_record)
        self.model_manager = self.create_model_manager()
        self.outbox = self.create_outbox()
        self.pipeline = DetectionPipeline(self.model_manager.slot, self.outbox, self.relevance,
                                          on_restart=lambda: self.request_exit(EXIT_RESTART),
                                          registry=self.registry)
        self.heap_trimmer = HeapTrimmer()
        self.repeat = PeriodicWorker('repeat', self._repeat_cycle, lambda: self.settings.loop_poll_interval,
                                     muted=lambda: self.loop_muted)
        self.add_worker(self.status_sender)
        self.add_worker(self.model_manager.worker)
        for worker in self.outbox.workers:
            self.add_worker(worker)
        self.add_worker(Worker('startup', self._finish_startup, supervised=False))
        self.add_worker(Worker('heap-trim', self.heap_trimmer.run))
        register_rest_routes(self)
        register_socketio_handlers(self)
        register_detector_page(self)

    # ---- parts (overridable for tests) ---------------------------------------------------------------------

    def create_model_manager(self) -> ModelManager:
        return ModelManager(self.settings, self.factory, self.loop_http, on_change=self.request_status_sync)

    def create_outbox(self) -> Outbox:
        return Outbox(self.settings, self.loop_http, on_error_change=self.request_status_sync,
                      registry=self.registry)

    # ---- start-up and the repeat cycle ---------------------------------------------------------------------

    def _finish_startup(self, stop: threading.Event) -> None:
        """Wait for the start-up load of current_model, then mode `idle` and start the repeat cycle (§1 step 4)."""
        while not self.model_manager.startup_done.is_set():
            if stop.wait(0.05):
                return
        with self._mode_lock:
            if self._operation_mode == OperationMode.Startup.value:
                self._operation_mode = OperationMode.Idle.value
        if not stop.is_set() and not self.stopping:
            self.add_worker(self.repeat)

    def _repeat_cycle(self) -> None:
        if self._cycles % self.settings.sync_cycles == 0:
            self.request_status_sync()
        self._cycles += 1
        if self.operation_mode == OperationMode.Idle.value:
            self.model_manager.poll_target()

    def request_status_sync(self) -> None:
        """Ask the `status` thread to post a fresh DetectorStatus (coalesced; never blocks)."""
        self.status_sender.request()

    # ---- modes -------------------------------------------------------------------------------------------

    @property
    def operation_mode(self) -> str:
        return self._operation_mode

    def set_operation_mode(self, text: str) -> None:
        """Set `startup`/`idle`/`detecting`; ValueError for anything else; a change schedules a status sync."""
        if text not in OPERATION_MODES:
            raise ValueError(f'{text!r} is not a valid OperationMode')
        with self._mode_lock:
            changed = text != self._operation_mode
            self._operation_mode = text
        if changed:
            log.info('operation mode %s', text)
            self.request_status_sync()

    def set_version_control(self, text: str) -> str | None:
        """PUT /model_version and `set_model_version_mode`: None on success, else the 400 message."""
        try:
            self.model_manager.set_version_control(text)
        except VersionRequestError as e:
            return str(e)
        self.request_status_sync()
        return None

    def soft_reload(self) -> None:
        """§3.3: clear histories, reset version control and failures, mode `idle`, rebuild current_model."""
        log.info('soft reload')
        self.relevance.clear()
        self.model_manager.soft_reload()
        self.set_operation_mode(OperationMode.Idle.value)
        self.request_status_sync()

    def reset(self) -> None:
        """Backdoor `/reset`: soft reload, delete `{DATA}` but uuids.json, recreate the layout, no model.

        The deletion runs on the model worker (ModelManager.reset), after the model job in flight.
        """
        log.warning('backdoor reset: deleting the data folder %s', self.settings.data_folder)
        self.relevance.clear()
        self.model_manager.reset(self._wipe_data_folder)
        self.set_operation_mode(OperationMode.Idle.value)
        self.request_status_sync()

    def _wipe_data_folder(self) -> None:
        for entry in list(self.settings.data_folder.iterdir()):
            if entry.name in KEEP_ON_RESET:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        self.settings.tmp_folder.mkdir(parents=True, exist_ok=True)
        self.outbox.reset()

    def version_response(self) -> dict[str, Any]:
        """GET /model_version and `get_model_version` (§4.5)."""
        return self.model_manager.version_response()

    def outbox_mode(self) -> str:
        return self.outbox.mode

    def set_outbox_mode(self, text: str) -> None:
        """PUT /outbox_mode and `set_outbox_mode`; ValueError for an unknown mode."""
        self.outbox.set_mode(text)

    # ---- answers -----------------------------------------------------------------------------------------

    def about(self) -> dict[str, Any]:
        """AboutResponse (§4.4) plus `errors`, the status error map (an addition, so a person sees why)."""
        return AboutResponse(operation_mode=OperationMode(self.operation_mode),
                             model_info=self.model_manager.slot.active_info,
                             target_model=self.model_manager.target_version,
                             version_control=VersionMode(self.model_manager.version_control),
                             errors=self.status_errors()).to_dict()

    def info(self) -> dict[str, Any]:
        """The Socket.IO `info` answer: the active ModelInformation, or a status when there is none."""
        slot = self.model_manager.slot
        info = slot.active_info
        if info is not None:
            return info.to_dict()
        updating = slot.updating_version
        if updating is not None:
            return {'status': f'Updating model to version {updating}'}
        return {'status': 'No model loaded'}

    # ---- NodeService hooks -------------------------------------------------------------------------------

    def status_errors(self) -> dict[str, str]:
        """The status error map (§8.2): `update_model` and `outbox`, when set."""
        errors: dict[str, str] = {}
        update_error = self.model_manager.status_error()
        if update_error:
            errors['update_model'] = update_error
        outbox_error = self.outbox.error()
        if outbox_error:
            errors['outbox'] = outbox_error
        return errors

    def status_record(self) -> dict[str, Any]:
        """The DetectorStatus as sent to the Loop (§7.10)."""
        errors = self.status_errors()
        info = self.model_manager.slot.active_info
        return DetectorStatus(uuid=self.uuid, name=self.name, uptime=self.uptime(),
                              model_format=self.factory.model_format,
                              current_model=None if info is None else info.version,
                              target_model=self.model_manager.target_version, errors=errors,
                              operation_mode=OperationMode(self.operation_mode),
                              node_version=self.settings.node_version).to_dict()

    def status_extra(self) -> dict[str, Any]:
        return {'model': self.model_manager.status_dict(), 'outbox': self.outbox.status_dict()}

    def readiness_reason(self) -> str | None:
        return self.model_manager.readiness_reason()

    def readiness_extra(self) -> dict[str, Any]:
        info = self.model_manager.slot.active_info
        return {'model_version': None if info is None else info.version}


def run_from_cli(settings: Settings, factory: Any, name: str | None) -> int:
    """`loopnode detector --logic pkg.module:factory`: run until SIGTERM/SIGINT; returns the exit code."""
    def resolve(obj: Any) -> Any:
        if not hasattr(obj, 'build') or not hasattr(obj, 'model_format'):
            raise ValueError(f'{obj!r} is not a detector factory: it needs model_format and build(model_info)')
        return obj
    return run_logic_node('detector', factory, wanted='a factory with model_format and build()',
                          example='loopnode.detector:MockDetectorFactory', resolve=resolve,
                          build=lambda f: DetectorNode(f, name=name, settings=settings))
