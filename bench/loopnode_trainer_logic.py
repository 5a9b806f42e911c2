"""The bench's trainer logic for loopnode: the same work as compat/run_upstream_trainer.py's SmallTrainerLogic.

A shell loop prints an epoch every 0.2 s (5 epochs) and writes the weights; one improving confusion matrix per
epoch; formats `mocked` and `mocked_2`; one box per image and box category.
"""
from __future__ import annotations

from pathlib import Path

from loopnode import BoxDetection, Detections, ModelInformation, PretrainedModel, TrainerLogic, TrainingStateData

EPOCHS = 5
TRAIN = f'for e in $(seq 1 {EPOCHS}); do echo "epoch $e"; sleep 0.2; done; echo weights > model.weights'


class SmallTrainerLogic(TrainerLogic):
    def __init__(self) -> None:
        super().__init__('mocked')
        self.synced_epoch = 0

    @property
    def training_progress(self) -> float:
        return self.synced_epoch / EPOCHS

    @property
    def model_architecture(self) -> str:
        return 'compat'

    @property
    def provided_pretrained_models(self) -> list[PretrainedModel]:
        return [PretrainedModel(name='small', label='Small', description='bench')]

    def _start_training_from_base_model(self) -> None:
        self.executor.start(['bash', '-c', TRAIN])

    def _start_training_from_scratch(self) -> None:
        self._start_training_from_base_model()

    def _can_resume(self) -> bool:
        return False

    def _resume(self) -> None:
        self._start_training_from_base_model()

    def _get_new_best_training_state(self) -> TrainingStateData | None:
        epochs = self.executor.get_log().count('epoch ')
        if epochs <= self.synced_epoch:
            return None
        self.synced_epoch = epochs
        return TrainingStateData(epoch=epochs, confusion_matrix={
            c.id: {'tp': epochs, 'fp': 0, 'fn': EPOCHS - epochs} for c in self.training.categories})

    def _on_metrics_published(self, training_state_data: TrainingStateData) -> None:
        pass

    def _get_latest_model_files(self) -> dict[str, list[str]]:
        folder = self.training.training_path
        weights = folder / 'model.weights'
        if not weights.exists():
            weights.write_text('weights')
        other = folder / 'model_2.weights'
        other.write_text('other weights')
        return {'mocked': [str(weights)], 'mocked_2': [str(other)]}

    def _detect(self, model_information: ModelInformation, image_paths: list[str],
                model_folder: str) -> list[Detections]:
        boxes = [c for c in model_information.categories if getattr(c.type, 'value', c.type) == 'box']
        return [Detections(image_id=Path(p).stem, box_detections=[
            BoxDetection(category_name=c.name, x=1, y=2, width=30, height=40, category_id=c.id,
                         model_name=model_information.version, confidence=0.9) for c in boxes])
            for p in image_paths]

    def _clear_training_data(self, training_folder: str) -> None:
        pass
