"""What the step modules need of a logic, as Protocols, so they never import `logic.py` (which calls them)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..data import Detections, ModelInformation, TrainingStateData

if TYPE_CHECKING:
    from ..service.executor import Executor


class StepLogic(Protocol):
    """The hooks of `TrainerLogicGeneric` the steps call."""

    model_format: str

    def _get_new_best_training_state(self) -> TrainingStateData | None: ...

    def _on_metrics_published(self, training_state_data: TrainingStateData) -> None: ...

    def _get_latest_model_files(self) -> dict[str, list[str]] | list[str]: ...

    def _get_model_metadata(self) -> dict[str, Any]: ...

    def _clear_training_data(self, training_folder: str) -> None: ...


class ExecutorLogic(StepLogic, Protocol):
    """The hooks of `TrainerLogic` that `run.py` and `detecting.py` call."""

    inference_batch_size: int | None
    _executor: 'Executor | None'

    @property
    def executor(self) -> 'Executor': ...

    def _can_resume(self) -> bool: ...

    def _resume(self) -> None: ...

    def _start_training_from_base_model(self) -> None: ...

    def _start_training_from_scratch(self) -> None: ...

    def _stop_running_training(self) -> None: ...

    def _get_executor_error_from_log(self) -> str | None: ...

    def _sync_training(self) -> None: ...

    def _detect(self, model_information: ModelInformation, image_paths: list[str],
                model_folder: str) -> list[Detections]: ...
