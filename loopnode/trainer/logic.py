"""The TrainerLogic API for implementers (trainer.md §9): `TrainerLogicGeneric` and the executor-based `TrainerLogic`.

Hook names are upstream's, without `async`. Hooks run in the training thread. A logic sees the node's
services as `self.node`, the active training as `self.training` (with `train_images()`, `test_images()`,
`val_images()`), its error map as `self.errors`, and `self.cancel_token`, which abort and shutdown set.
"""
from __future__ import annotations

import abc
import logging
from typing import TYPE_CHECKING, Any

from ..data import ModelInformation, PretrainedModel, TrainingStateData
from .active import ActiveTraining, TrainerServices, TrainingErrors
from .cancel import CancelToken
from .errors import CriticalError
from ..service.executor import Executor
from .record import Training
from .trainingio import TrainingIO

if TYPE_CHECKING:
    from ..data import Detections

log = logging.getLogger(__name__)

CUDA_ERRORS = (('CUDA out of memory', 'graphics card is out of memory'),
               ('CUDA error: invalid device ordinal', 'graphics card not found'))
LOG_TAIL = 50


class NoActiveTrainingError(RuntimeError):
    """A member that needs a training was used while none is active."""


class TrainerLogicGeneric(abc.ABC):
    """Base of every trainer logic: the steps around the training, with overridable hooks (§9.1)."""

    def __init__(self, model_format: str, training_slot: str | None = None) -> None:
        self.model_format = model_format
        self.training_slot = training_slot  # a lock file path that overrides TRAINING_SLOT_LOCK
        self.node: TrainerServices | None = None
        self._active: ActiveTraining | None = None

    # ---- wiring (called by the node) -----------------------------------------------------------------

    def _attach_node(self, node: TrainerServices) -> None:
        self.node = node

    def _attach_training(self, active: ActiveTraining | None) -> None:
        self._active = active

    # ---- provided to implementers --------------------------------------------------------------------

    @property
    def active(self) -> ActiveTraining:
        if self._active is None:
            raise NoActiveTrainingError('no training is active')
        return self._active

    @property
    def training(self) -> Training:
        """The record of the active training."""
        return self.active.training

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return self.training.hyperparameters

    @property
    def errors(self) -> TrainingErrors:
        return self.active.errors

    @property
    def active_training_io(self) -> TrainingIO:
        return self.active.io

    @property
    def cancel_token(self) -> CancelToken:
        return self.active.cancel

    @property
    def is_stop_requested(self) -> bool:
        return self._active is not None and self._active.stop_requested

    @property
    def state(self) -> str:
        return self._active.state.value if self._active is not None else 'idle'

    @property
    def training_active(self) -> bool:
        return self._active is not None

    def _sync_training(self) -> None:
        """Send a new best state now, if there is one; failures are logged, never raised (use while training)."""
        from .metrics import sync_metrics
        try:
            sync_metrics(self.active, self)
        except Exception as e:  # noqa: BLE001 - a failed sync must not end the training
            log.warning('metric sync failed: %s', e)

    # ---- required ---------------------------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def training_progress(self) -> float | None:
        """Progress while `running`, 0…1."""

    @property
    @abc.abstractmethod
    def model_architecture(self) -> str | None:
        """Reported as `architecture`."""

    @property
    @abc.abstractmethod
    def provided_pretrained_models(self) -> list[PretrainedModel]:
        """Reported; the chosen `name` comes back as `model_variant`."""

    @abc.abstractmethod
    def _train(self) -> None:
        """Run the whole training; check `self.cancel_token`; call `self._sync_training()` now and then."""

    @abc.abstractmethod
    def _do_detections(self) -> None:
        """Write detections with `self.active_training_io.save_detections(list, index)`."""

    @abc.abstractmethod
    def _get_new_best_training_state(self) -> TrainingStateData | None:
        """Only when a *new* best exists: its confusion matrix (uuid → {tp, fp, fn}), meta information, epoch."""

    @abc.abstractmethod
    def _on_metrics_published(self, training_state_data: TrainingStateData) -> None:
        """The Loop accepted these metrics: keep that checkpoint for the upload."""

    @abc.abstractmethod
    def _get_latest_model_files(self) -> dict[str, list[str]] | list[str]:
        """`{format: [paths]}` (or `[paths]` for `model_format`) to deploy or resume; no `model.json`."""

    @abc.abstractmethod
    def _clear_training_data(self, training_folder: str) -> None:
        """Delete what is not needed any more after a training."""

    # ---- optional ---------------------------------------------------------------------------------------

    def _get_model_metadata(self) -> dict[str, Any]:
        """Extra ModelInformation keys for the uploaded `model.json`, e.g. `{"conf_threshold": 0.31}`."""
        return {}

    def _stop_running_training(self) -> None:
        """Graceful stop in `running`; by default an abort (a generic logic cannot stop a training half-way)."""
        self.active.begin_abort()

    def _supports_graceful_stop(self) -> bool:
        """Whether `stop_training` in `running` can end the run normally (else it is an abort)."""
        return type(self)._stop_running_training is not TrainerLogicGeneric._stop_running_training

    def _prepare(self) -> None:
        """Step `prepare`: download the training data (trainer.md §6.1)."""
        from .data import prepare
        prepare(self.active)

    def _download_model(self) -> None:
        """Step `download_model`: the base model, if any (§6.2)."""
        from .base_model import download_base_model
        download_base_model(self.active, self.model_format)

    def _sync_confusion_matrix(self) -> None:
        """Step `sync_confusion_matrix` (§6.4); raises when the sync failed."""
        from .metrics import sync_metrics
        sync_metrics(self.active, self)

    def _upload_model(self) -> None:
        """Step `upload_model` (§6.5): sets `training.model_uuid_for_detecting`."""
        model_uuid = self._upload_model_return_new_model_uuid()
        if not model_uuid:
            raise CriticalError('the model is uploaded, but the Loop never answered with its id')
        self.training.model_uuid_for_detecting = model_uuid

    def _upload_model_return_new_model_uuid(self) -> str | None:
        """Upload every format of `_get_latest_model_files()`; the model uuid the Loop returned."""
        from .upload import upload_all_formats
        return upload_all_formats(self.active, self)

    def _upload_detections(self) -> None:
        """Step `upload_detections` (§6.7)."""
        from .detections import upload_detections
        upload_detections(self.active)

    def on_shutdown(self) -> None:
        """The node stops (after executors were killed); release what the logic holds."""


class TrainerLogic(TrainerLogicGeneric):
    """A logic whose training runs in a subprocess started through `self.executor` (§9.2)."""

    def __init__(self, model_format: str, training_slot: str | None = None) -> None:
        super().__init__(model_format, training_slot)
        self.inference_batch_size: int | None = None  # None: INFERENCE_BATCH_SIZE
        self._executor: Executor | None = None

    def _attach_node(self, node: TrainerServices) -> None:
        super()._attach_node(node)
        if self.inference_batch_size is None:
            self.inference_batch_size = node.settings.inference_batch_size

    def _attach_training(self, active: ActiveTraining | None) -> None:
        super()._attach_training(active)
        self._executor = None

    @property
    def executor(self) -> Executor:
        """The training process's executor (cwd and log `last_training.log` in the training folder)."""
        if self._executor is None:
            self._executor = self.active.node.executors.new(self.training.training_path)
        return self._executor

    def new_executor(self, name: str) -> Executor:
        """Another executor (detection, export) in `training_folder/name`, stopped with the others on abort."""
        return self.active.node.executors.new(self.training.training_path / name, log_name=f'{name}.log')

    @property
    def detection_progress(self) -> float | None:
        return self._active.progress if self._active is not None and self.state == 'detecting' else None

    def _train(self) -> None:
        from .run import run_executor_training
        run_executor_training(self.active, self)

    def _do_detections(self) -> None:
        from .detecting import download_detection_model, fetch_detection_images, run_detection_batches
        model_uuid = self.training.model_uuid_for_detecting
        if not model_uuid:
            log.error('no model uuid to detect with; skipping the detections')
            return
        info, folder = download_detection_model(self.active, model_uuid, self.model_format)
        images = fetch_detection_images(self.active)
        run_detection_batches(self.active, self, info, folder, images)

    def _supports_graceful_stop(self) -> bool:
        return self._executor is not None and self._executor.is_running()

    def _stop_running_training(self) -> None:
        """Graceful stop: end the training process; the run then finishes normally."""
        if self._executor is not None:
            self._executor.stop()

    def _get_executor_error_from_log(self) -> str | None:
        """The default check (CUDA faults) of the last 50 lines the current attempt wrote to the appended log.

        Lines of earlier attempts are skipped, so a stale error does not fail every retry; overrides should call it.
        """
        if self._executor is None:
            return None
        for line in self._executor.get_log_by_lines(LOG_TAIL, since_start=True):
            for needle, message in CUDA_ERRORS:
                if needle in line:
                    return message
        return None

    @abc.abstractmethod
    def _start_training_from_base_model(self) -> None:
        """Start the process via `self.executor.start(cmd, env)`; `base_model.json` is in the training folder."""

    @abc.abstractmethod
    def _start_training_from_scratch(self) -> None:
        """Start from the pretrained model named by `training.model_variant`."""

    @abc.abstractmethod
    def _can_resume(self) -> bool:
        """A checkpoint exists to resume from."""

    @abc.abstractmethod
    def _resume(self) -> None:
        """Restart the process from the checkpoint."""

    @abc.abstractmethod
    def _detect(self, model_information: ModelInformation, image_paths: list[str],
                model_folder: str) -> list['Detections']:
        """Inference for one batch; each Detections carries `image_id`; may use `self.new_executor(...)`."""
