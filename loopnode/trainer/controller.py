"""TrainingController: begin, stop, abort, resume and shutdown of the one training (trainer.md §4.2, §5).

`training_lock` serialises the commands, resume, shutdown and the backdoor reset; the status reads a
snapshot under the ActiveTraining's own short lock, so it never waits for an abort. The training thread
runs a `TrainingMachine`; when it ends the controller drops the training and releases the slot.
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any, Callable

from ..data import Context, SocketResponse
from ..service.node import EXIT_RESTART
from .active import ActiveTraining, Snapshot, TrainerServices
from .cancel import CancelToken
from .commands import ack, parse_begin_training, refused
from .logic import TrainerLogic, TrainerLogicGeneric
from .machine import TrainingMachine
from .record import RecordFile, Training
from .slot import TrainingSlot
from .steps import State, reported_state

log = logging.getLogger(__name__)

ABORT_WAIT = 10.0
SLOT_POLL = 1.0
EXECUTOR_KILL_GRACE = 5.0


class TrainingController:
    """Owns the active training, the last-training file and the training slot of one trainer node."""

    def __init__(self, services: TrainerServices, logic: TrainerLogicGeneric, *,
                 request_exit: Callable[[int], None],
                 backoff_wait: Callable[[CancelToken, float], bool] | None = None) -> None:
        self.services = services
        self.logic = logic
        self.settings = services.settings
        self.request_exit = request_exit
        self.backoff_wait = backoff_wait
        self.training_lock = threading.RLock()
        self.record_file = RecordFile(self.settings.data_folder, services.uuid)
        self.slot = TrainingSlot(logic.training_slot or self.settings.training_slot_lock, services.uuid)
        self._active: ActiveTraining | None = None
        self._thread: threading.Thread | None = None
        self._ref_lock = threading.Lock()
        self._shutdown = False

    # ---- queries ---------------------------------------------------------------------------------------

    @property
    def active(self) -> ActiveTraining | None:
        with self._ref_lock:
            return self._active

    def snapshot(self) -> Snapshot | None:
        active = self.active
        return None if active is None else active.snapshot(self.progress(active))

    def progress(self, active: ActiveTraining) -> float | None:
        """Status `progress`: download or detection progress, `training_progress` while running; 0…1."""
        state = active.state
        if state in (State.DataDownloading, State.Detecting):
            value = active.progress
        elif state is State.TrainingRunning:
            try:
                value = self.logic.training_progress
            except Exception:  # noqa: BLE001 - a status must never fail on the logic
                value = None
        else:
            value = None
        return None if value is None else max(0.0, min(1.0, float(value)))

    def status_fields(self) -> dict[str, Any]:
        """`state`, `uptime`, `errors`, `progress`, `context` of `update_trainer` (trainer.md §10)."""
        snap = self.snapshot()
        if snap is None:
            return {'state': reported_state(None, self.slot.held_by_sibling(), False), 'uptime': None,
                    'errors': {}, 'progress': None, 'context': None}
        return {'state': reported_state(snap.state, False, self.slot.held),
                'uptime': max(0.0, time.time() - snap.start_time), 'errors': snap.errors, 'progress': snap.progress,
                'context': {'organization': snap.organization, 'project': snap.project}}

    # ---- begin -------------------------------------------------------------------------------------------

    def begin_training(self, organization: Any, project: Any, details: Any) -> SocketResponse:
        """The `begin_training` handler (§5.1); returns the ack."""
        with self.training_lock:
            active = self.active
            if active is not None:
                return refused(f'training {active.training.id} is still active')
            if self.record_file.exists():
                return refused(f'training {self.record_file.stored_id()} is still active')  # waits for its resume
            if self._shutdown:
                return refused('the trainer is shutting down')
            try:
                parsed = parse_begin_training(organization, project, details)
            except ValueError as e:
                log.warning('begin_training refused: %s', e)
                return ack(False, str(e))
            description = f'training #{parsed.training_number} of {organization}/{project}'
            if not self.slot.claim(description):
                return refused(f'the training slot is held by {self.slot.holder_text()}')
            try:
                training = self._create(organization, project, parsed)
                self._start(ActiveTraining(training, self.services, self.record_file), wait_for_slot=False)
            except Exception as e:  # noqa: BLE001 - reported in the ack
                log.exception('could not create the training')
                self.slot.release()
                return ack(False, f'could not create the training: {e}')
            log.info('training %s started: #%d of %s/%s', training.id, training.training_number, organization,
                     project)
            return ack(True)

    def _create(self, organization: str, project: str, parsed: Any) -> Training:
        project_folder = self.settings.data_folder / organization / project
        trainings = project_folder / 'trainings'
        if not self.settings.keep_old_trainings and trainings.is_dir():
            for old in trainings.iterdir():
                if old.is_dir() and not old.is_symlink():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink(missing_ok=True)
        training_id = str(uuidlib.uuid4())
        training_folder = trainings / training_id
        training_folder.mkdir(parents=True)
        (project_folder / 'images').mkdir(parents=True, exist_ok=True)
        training = Training(id=training_id, context=Context(organization=organization, project=project),
                            project_folder=str(project_folder), images_folder=str(project_folder / 'images'),
                            training_folder=str(training_folder), categories=parsed.categories,
                            hyperparameters=parsed.hyperparameters, training_number=parsed.training_number,
                            model_variant=parsed.model_variant, start_time=time.time(),
                            base_model_uuid=parsed.base_model_uuid)
        self.record_file.save(training)
        return training

    # ---- resume --------------------------------------------------------------------------------------------

    def resume_if_pending(self) -> bool:
        """At start and every repeat cycle: load a persisted training and start it; True if one was started."""
        with self.training_lock:
            if self._shutdown or self.active is not None:
                return False
            training = self.record_file.load()
            if training is None:
                return False
            log.info('resuming training %s (#%d of %s/%s) at %s', training.id, training.training_number,
                     training.context.organization, training.context.project, training.training_state.value)
            Path(training.training_folder).mkdir(parents=True, exist_ok=True)
            Path(training.images_folder).mkdir(parents=True, exist_ok=True)
            self._start(ActiveTraining(training, self.services, self.record_file), wait_for_slot=True)
            return True

    def _start(self, active: ActiveTraining, *, wait_for_slot: bool) -> None:
        with self._ref_lock:
            self._active = active
        self.logic._attach_training(active)
        machine = TrainingMachine(active, self.logic, self._on_cleaned_up, self._on_end, self.backoff_wait)

        def run() -> None:
            if wait_for_slot and not self._wait_for_slot(active):
                self._on_end(active, None)
                return
            machine.run()
        self._thread = threading.Thread(target=run, name='training')
        self._thread.start()

    def _wait_for_slot(self, active: ActiveTraining) -> bool:
        t = active.training
        description = f'training #{t.training_number} of {t.context.organization}/{t.context.project}'
        while not self.slot.try_acquire(description):
            if active.cancel.wait(SLOT_POLL):
                return active.aborted and not active.shutting_down  # an abort still cleans up (needs no slot)
        return True

    # ---- end of a training (training thread) -----------------------------------------------------------------

    def _on_cleaned_up(self, active: ActiveTraining) -> None:
        try:
            self.services.send_status()
        except Exception:  # noqa: BLE001 - the status is best effort here
            log.exception('could not send the status after cleanup')

    def _on_end(self, active: ActiveTraining, exit_code: int | None) -> None:
        with self._ref_lock:  # a new training can only start once this one is detached and its slot released
            if self._active is active:  # else not ours any more: leave the current one's binding and slot alone
                self.logic._attach_training(None)
                self.slot.release()
                self._active = None
        if exit_code is not None:
            self.request_exit(exit_code)
        elif active.cleaned_up.is_set() and self.settings.restart_after_training and not active.shutting_down:
            log.info('RESTART_AFTER_TRAINING: exiting with %d', EXIT_RESTART)
            self.request_exit(EXIT_RESTART)

    # ---- stop, abort, shutdown --------------------------------------------------------------------------------

    def stop_training(self) -> SocketResponse:
        """`stop_training` (§5.2): graceful in `running` when possible, else an abort; ignored elsewhere."""
        with self.training_lock:
            active = self.active
            if active is None:
                return ack(True)
            state = active.state
            if state is not State.TrainingRunning:
                log.info('Received stop in state %s. This is ignored.', state.value)
                return ack(True)
            if self.logic._supports_graceful_stop():
                active.stop_requested = True
                if not isinstance(self.logic, TrainerLogic):  # its poll loop stops the process itself
                    self.logic._stop_running_training()
                log.info('graceful stop of training %s requested', active.training.id)
            else:
                log.info('stop of training %s cannot be graceful: aborting', active.training.id)
                self._begin_abort(active)
            return ack(True)

    def abort_training(self, wait: float = ABORT_WAIT) -> SocketResponse:
        """`abort_training` (§5.2): cancel, kill every executor, ack after cleanup (at most `wait` s)."""
        with self.training_lock:
            active = self.active
            if active is None:
                return ack(True)
            log.info('aborting training %s in %s', active.training.id, active.state.value)
            self._begin_abort(active)
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(wait)
            if thread is not None and thread.is_alive():
                log.warning('training %s did not finish its cleanup within %.0f s', active.training.id, wait)
            return ack(True)

    def _begin_abort(self, active: ActiveTraining) -> None:
        active.begin_abort()
        self.services.executors.stop_all(EXECUTOR_KILL_GRACE)

    def begin_shutdown(self) -> None:
        """Shutdown step 1 (§5.3): set the flag and the cancel token; nothing is persisted from here on."""
        self._shutdown = True
        active = self.active
        if active is not None:
            active.begin_shutdown()

    def shutdown(self, grace: float = 10.0) -> None:
        """Node shutdown (§5.3): cancel, kill executors, let the thread end without persisting anything."""
        self.begin_shutdown()
        with self.training_lock:
            self.begin_shutdown()  # a resume that raced the first call
            self.services.executors.stop_all(EXECUTOR_KILL_GRACE)
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(grace)
            if thread.is_alive():
                log.error('the training thread did not end within %.0f s', grace)
        try:
            self.logic.on_shutdown()
        except Exception:  # noqa: BLE001 - shutting down regardless
            log.exception('on_shutdown of the logic failed')
        self.slot.release()

    def reset(self) -> None:
        """Backdoor `POST /reset`: abort once, delete the last-training file."""
        with self.training_lock:
            self.abort_training()
            self.record_file.delete()
