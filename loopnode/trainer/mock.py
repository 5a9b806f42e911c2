"""MockTrainerLogic (trainer.md §9.5): a bash loop as the training, made-up metrics, fixed detections.

Formats `mocked` and `mocked_2`; progress = iteration / 100, where an iteration is one new best state; a
random but improving confusion matrix per sync; pretrained models `small`, `medium`, `large`. The backdoor
switches (`provide_new_model`, `error_configuration`) let tests make each hook fail.
"""
from __future__ import annotations

import logging
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import (BoxDetection, ClassificationDetection, Detections, ModelInformation, Point, PointDetection,
                    PretrainedModel, SegmentationDetection, Shape, TrainingStateData)
from ..fsutil import atomic_write_bytes
from .logic import TrainerLogic

log = logging.getLogger(__name__)

TRAINING_COMMAND = ['bash', '-c', 'i=0; while true; do i=$((i+1)); echo "mock training iteration $i"; sleep 1; done']
CRASH_MESSAGE = 'mocked crash'


@dataclass
class ErrorConfiguration:
    """Backdoor error switches (trainer.md §11)."""

    begin_training: bool = False  # starting from the base model raises
    crash_training: bool = False  # the log reports "mocked crash"
    get_new_model: bool = False  # the best-state hook raises
    save_model: bool = False  # gathering the model files raises (a retried error)

    @classmethod
    def from_dict(cls, d: Any) -> 'ErrorConfiguration':
        if not isinstance(d, dict):
            raise ValueError('error configuration: expected a JSON object')
        known = {'begin_training', 'crash_training', 'get_new_model', 'save_model'}
        for key, value in d.items():
            if key not in known:
                raise ValueError(f'unknown error switch {key!r}: expected one of {", ".join(sorted(known))}')
            if not isinstance(value, bool):
                raise ValueError(f'{key}: expected a bool')
        return cls(**d)


class MockTrainerLogic(TrainerLogic):
    """A trainer that trains nothing, for tests and demos (`loopnode trainer --logic loopnode.trainer:MockTrainerLogic`)."""

    def __init__(self, model_format: str = 'mocked') -> None:
        super().__init__(model_format)
        self.provide_new_model = True
        self.error_configuration = ErrorConfiguration()
        self.can_resume = False  # tests switch it on (T11)
        self.current_iteration = 0
        self.max_iterations = 100
        self._rng = random.Random()

    # ---- reported ------------------------------------------------------------------------------------

    @property
    def training_progress(self) -> float | None:
        return min(1.0, self.current_iteration / self.max_iterations)

    @property
    def model_architecture(self) -> str | None:
        return 'mocked'

    @property
    def provided_pretrained_models(self) -> list[PretrainedModel]:
        return [PretrainedModel(name='small', label='Small', description='a small model'),
                PretrainedModel(name='medium', label='Medium', description='a medium model'),
                PretrainedModel(name='large', label='Large', description='a large model')]

    # ---- training ------------------------------------------------------------------------------------

    def _start_training_from_base_model(self) -> None:
        if self.error_configuration.begin_training:
            raise RuntimeError('mocked error: could not start the training')
        self.executor.start(TRAINING_COMMAND)

    def _start_training_from_scratch(self) -> None:
        self._start_training_from_base_model()

    def _can_resume(self) -> bool:
        return self.can_resume

    def _resume(self) -> None:
        self.executor.start(TRAINING_COMMAND)

    def _get_executor_error_from_log(self) -> str | None:
        if self.error_configuration.crash_training:
            return CRASH_MESSAGE
        return super()._get_executor_error_from_log()

    def _get_new_best_training_state(self) -> TrainingStateData | None:
        if self.error_configuration.get_new_model:
            raise RuntimeError('mocked error: could not get the new best state')
        if not self.provide_new_model:
            return None
        self.current_iteration += 1
        matrix = {}
        for category in self.training.categories:
            tp = self.current_iteration + self._rng.randint(0, 5)
            matrix[category.id] = {'tp': tp, 'fp': max(0, 10 - tp), 'fn': max(0, 10 - tp)}
        return TrainingStateData(confusion_matrix=matrix, meta_information={'iteration': self.current_iteration},
                                 epoch=self.current_iteration)

    def _on_metrics_published(self, training_state_data: TrainingStateData) -> None:
        log.debug('metrics of iteration %s published', training_state_data.meta_information.get('iteration'))

    def _get_latest_model_files(self) -> dict[str, list[str]]:
        if self.error_configuration.save_model:
            raise RuntimeError('mocked error: could not save the model')
        folder = self.training.training_path / 'mock_model'
        files: dict[str, list[str]] = {}
        for fmt, names in (('mocked', ('file_1.txt', 'file_2.txt')), ('mocked_2', ('file_1.txt',))):
            paths = []
            for name in names:
                path = folder / fmt / name
                if not path.exists():
                    atomic_write_bytes(path, f'{fmt} {name} of training {self.training.id}'.encode())
                paths.append(str(path))
            files[fmt] = paths
        return files

    def _clear_training_data(self, training_folder: str) -> None:
        shutil.rmtree(Path(training_folder) / 'mock_model', ignore_errors=True)

    def _get_model_metadata(self) -> dict[str, Any]:
        return {'conf_threshold': 0.5}

    # ---- detection -----------------------------------------------------------------------------------

    def _detect(self, model_information: ModelInformation, image_paths: list[str],
                model_folder: str) -> list[Detections]:
        version = model_information.version
        result = []
        for image_path in image_paths:
            d = Detections(image_id=Path(image_path).stem)
            for c in model_information.categories:
                kind = getattr(c.type, 'value', c.type)
                if kind == 'box':
                    d.box_detections.append(BoxDetection(category_name=c.name, category_id=c.id, x=1, y=2, width=30,
                                                         height=40, model_name=version, confidence=0.99))
                elif kind == 'point':
                    d.point_detections.append(PointDetection(category_name=c.name, category_id=c.id, x=100, y=200,
                                                             model_name=version, confidence=0.97))
                elif kind == 'segmentation':
                    shape = Shape(points=[Point(x=1, y=2), Point(x=3, y=4), Point(x=5, y=6)])
                    d.segmentation_detections.append(SegmentationDetection(
                        category_name=c.name, category_id=c.id, shape=shape, model_name=version, confidence=0.96))
                elif kind == 'classification':
                    d.classification_detections.append(ClassificationDetection(
                        category_name=c.name, category_id=c.id, model_name=version, confidence=0.95))
            result.append(d)
        return result
