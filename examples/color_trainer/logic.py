"""`ColorTrainerLogic`: trains the `color_blobs` colour model in a subprocess through the node's executor.

The logic writes the training images and their box and point annotations to `training_input.json`, starts
`python -m loopnode.examples.color_trainer.train`, reads `progress` lines from the executor log, and once
the process has written `result.json` reports its confusion matrix as the new best state. The checkpoint
(`checkpoint.npz`) lets `_resume` continue a fit the node was killed in. `_detect` runs the colour detector.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path

from loopnode.data import Detections, ModelInformation, PretrainedModel, TrainingStateData
from loopnode.fsutil import atomic_write_json
from loopnode.trainer import TrainerLogic

from ..color_detector.colormodel import MODEL_FILE, MODEL_FORMAT
from ..color_detector.logic import ColorBlobsFactory
from .checkpoint import CHECKPOINT_FILE
from .dataset import INPUT_FILE, entry_of_record, input_dict
from .train import RESULT_FILE

log = logging.getLogger(__name__)

TRAIN_MODULE = 'loopnode.examples.color_trainer.train'
LOG_TAIL = 50


def last_progress(lines: list[str]) -> float | None:
    """The value of the last `progress x` line, if any."""
    for line in reversed(lines):
        if line.startswith('progress '):
            try:
                return float(line.split()[1])
            except (IndexError, ValueError):
                continue
    return None


class ColorTrainerLogic(TrainerLogic):
    """Fits `color_blobs` models (numpy only) in a subprocess; one training of the demo project takes ~1 s."""

    def __init__(self) -> None:
        super().__init__(MODEL_FORMAT)
        self._reported: str | None = None  # result.json content already sent as a best state

    # ---- reported ------------------------------------------------------------------------------------

    @property
    def training_progress(self) -> float | None:
        if not self.training_active:
            return None
        executor = self._executor  # never create one just to report
        if executor is None:
            return 0.0
        return last_progress(executor.get_log_by_lines(LOG_TAIL, since_start=True)) or 0.0

    @property
    def model_architecture(self) -> str | None:
        return 'color_blobs'

    @property
    def provided_pretrained_models(self) -> list[PretrainedModel]:
        return [PretrainedModel(name='color_blobs', label='Colour blobs',
                                description='mean and covariance in YCbCr per box/point category, fitted from scratch')]

    # ---- training ------------------------------------------------------------------------------------

    @property
    def _folder(self) -> Path:
        return self.training.training_path

    def _write_input(self) -> None:
        """training_input.json from the training's image records (only images with a file in the cache)."""
        entries = []
        for record in self.training.image_data or []:
            path = self.training.images_path / f'{record["id"]}.jpg'
            if path.exists():
                entries.append(entry_of_record(record, str(path)))
        categories = [c.to_dict() for c in self.training.categories]
        atomic_write_json(self._folder / INPUT_FILE, input_dict(categories, entries, dict(self.hyperparameters)))
        log.info('training %s: %d images (%d test)', self.training.id, len(entries),
                 sum(1 for e in entries if e.set == 'test'))

    def _command(self, resume: bool) -> list[str]:
        return [sys.executable, '-m', TRAIN_MODULE, '--folder', str(self._folder), *(['--resume'] if resume else [])]

    def _start(self, resume: bool) -> None:
        self.executor.start(self._command(resume=resume))

    def _start_training_from_scratch(self) -> None:
        self._write_input()
        self._reported = None
        self._start(resume=False)

    def _start_training_from_base_model(self) -> None:
        """A colour model is refitted from all images: the base model is not needed (it stays on disk)."""
        self._start_training_from_scratch()

    def _can_resume(self) -> bool:
        return (self._folder / CHECKPOINT_FILE).exists() and (self._folder / INPUT_FILE).exists()

    def _resume(self) -> None:
        log.info('training %s: resuming from %s', self.training.id, CHECKPOINT_FILE)
        self._start(resume=True)

    def _get_executor_error_from_log(self) -> str | None:
        """`training failed:` of this attempt only (`since_start`): the log also holds earlier attempts' lines."""
        for line in reversed(self.executor.get_log_by_lines(LOG_TAIL, since_start=True)):
            if 'training failed:' in line:
                return line.split('training failed:', 1)[1].strip()
        return super()._get_executor_error_from_log()

    def _get_new_best_training_state(self) -> TrainingStateData | None:
        try:
            text = (self._folder / RESULT_FILE).read_text(encoding='utf-8')
        except FileNotFoundError:
            return None
        if text == self._reported:
            return None
        result = json.loads(text)
        return TrainingStateData(confusion_matrix=result['confusion_matrix'], epoch=1, meta_information={
            'precision': result['precision'], 'recall': result['recall'], 'result': text})

    def _on_metrics_published(self, training_state_data: TrainingStateData) -> None:
        self._reported = training_state_data.meta_information.get('result')

    def _get_latest_model_files(self) -> dict[str, list[str]]:
        model = self._folder / MODEL_FILE
        return {MODEL_FORMAT: [str(model)]} if model.exists() else {}

    def _clear_training_data(self, training_folder: str) -> None:
        for name in (CHECKPOINT_FILE, INPUT_FILE):
            (Path(training_folder) / name).unlink(missing_ok=True)

    # ---- detection -----------------------------------------------------------------------------------

    def _detect(self, model_information: ModelInformation, image_paths: list[str],
                model_folder: str) -> list[Detections]:
        from ..color_detector.fit import decode_rgb

        info = dataclasses.replace(model_information, model_root_path=model_folder)
        detector = ColorBlobsFactory().build(info)
        results = []
        for path in image_paths:
            found = detector.evaluate(decode_rgb(Path(path).read_bytes()))
            results.append(Detections(box_detections=found.box_detections, point_detections=found.point_detections,
                                      image_id=Path(path).stem))
        return results
