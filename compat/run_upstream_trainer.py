"""Run an unmodified learning_loop_node 0.27.0 trainer with a tiny logic of our own (formats `mocked`, `mocked_2`).

Runs INSIDE `.venv-compat`, never in loopnode's venv. Upstream reads its configuration from the environment,
which the caller sets: LOOP_HOST (host:port), DATA_FOLDER. Usage:

    DATA_FOLDER=/tmp/t LOOP_HOST=127.0.0.1:8000 .venv-compat/bin/python compat/run_upstream_trainer.py --port 5005

The training "process" is a short shell loop that prints an epoch per 0.2 s and writes the weights; the
logic reports one improving confusion matrix per epoch, uploads two formats and detects one box per image.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional

import uvicorn
from learning_loop_node.data_classes import (BoxDetection, Detections, ModelInformation, PretrainedModel,
                                             TrainingStateData)
from learning_loop_node.trainer.trainer_logic import TrainerLogic
from learning_loop_node.trainer.trainer_node import TrainerNode

log = logging.getLogger('compat.upstream_trainer')

EPOCHS = 5
TRAIN = f'for e in $(seq 1 {EPOCHS}); do echo "epoch $e"; sleep 0.2; done; echo weights > model.weights'


class SmallTrainerLogic(TrainerLogic):
    """Upstream TrainerLogic (0.27.0 hooks, async where upstream wants them)."""

    def __init__(self) -> None:
        super().__init__('mocked')
        self.synced_epoch = 0

    @property
    def training_progress(self) -> Optional[float]:
        return self.synced_epoch / EPOCHS

    @property
    def model_architecture(self) -> Optional[str]:
        return 'compat'

    @property
    def provided_pretrained_models(self) -> List[PretrainedModel]:
        return [PretrainedModel(name='small', label='Small', description='compat test')]

    async def _start_training_from_base_model(self) -> None:
        await self.executor.start(f"bash -c '{TRAIN}'")

    async def _start_training_from_scratch(self) -> None:
        await self._start_training_from_base_model()

    def _can_resume(self) -> bool:
        return False

    async def _resume(self) -> None:
        await self._start_training_from_base_model()

    def _get_new_best_training_state(self) -> Optional[TrainingStateData]:
        epochs = self.executor.get_log().count('epoch ') if self._executor else 0
        if epochs <= self.synced_epoch:
            return None
        self.synced_epoch = epochs
        matrix = {c.id: {'tp': epochs, 'fp': 0, 'fn': EPOCHS - epochs} for c in self.training.categories}
        return TrainingStateData(confusion_matrix=matrix, epoch=epochs)

    def _on_metrics_published(self, training_state_data: TrainingStateData) -> None:
        log.info('metrics of epoch %s published', training_state_data.epoch)

    async def _get_latest_model_files(self) -> Dict[str, List[str]]:
        folder = Path(self.training.training_folder)
        weights = folder / 'model.weights'
        if not weights.exists():
            weights.write_text('weights')
        other = folder / 'model_2.weights'
        other.write_text('other weights')
        return {'mocked': [str(weights)], 'mocked_2': [str(other)]}

    async def _detect(self, model_information: ModelInformation, images: List[str],
                      model_folder: str) -> List[Detections]:
        box = [c for c in model_information.categories if c.type == 'box']
        result = []
        for image in images:
            detections = Detections(image_id=Path(image).stem)
            for category in box:
                detections.box_detections.append(BoxDetection(
                    category_name=category.name, x=1, y=2, width=30, height=40, category_id=category.id,
                    model_name=model_information.version, confidence=0.9))
            result.append(detections)
        return result

    async def _clear_training_data(self, training_folder: str) -> None:
        log.info('clearing %s', training_folder)


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--name', default='upstream-compat-trainer')
    parser.add_argument('--log-level', default='info')
    args = parser.parse_args(argv)
    node = TrainerNode(args.name, SmallTrainerLogic())
    uvicorn.run(node, host=args.host, port=args.port, lifespan='on', log_level=args.log_level)
    return 0


if __name__ == '__main__':
    sys.exit(main())
