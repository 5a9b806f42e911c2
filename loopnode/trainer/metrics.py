"""Metric sync (trainer.md §6.4): `update_training` with the logic's new best state, if there is one.

Used by the step `sync_confusion_matrix` (failures are step errors) and every > 5 s while `running`
(failures are logged and ignored there).
"""
from __future__ import annotations

import logging
from typing import Any

from ..data import TrainingOut, TrainingStateData
from .active import ActiveTraining
from .protocols import StepLogic

log = logging.getLogger(__name__)

UPDATE_TRAINING_TIMEOUT = 60.0
ERROR_KEY = 'sync_confusion_matrix'


class MetricSyncError(Exception):
    """`update_training` was not possible or not accepted."""


def training_out(active: ActiveTraining, state: TrainingStateData) -> dict[str, Any]:
    """TrainingOut (loop-protocol.md §7.9) for a best state."""
    training = active.training
    return TrainingOut(trainer_id=active.node.uuid, trainer_name=active.node.name,
                       confusion_matrix=state.confusion_matrix,
                       train_image_count=len(training.train_images()) + len(training.images_in_set('val')),
                       test_image_count=len(training.test_images()), hyperparameters=training.hyperparameters,
                       best_epoch=state.epoch).to_dict()


def sync_metrics(active: ActiveTraining, logic: StepLogic) -> None:
    """Send the new best state, if any; raises MetricSyncError when it could not be delivered."""
    if not active.node.socket_connected():
        raise MetricSyncError('not connected to the Loop')
    state = logic._get_new_best_training_state()
    if state is None:
        log.debug('no new best training state to sync')
        return
    if isinstance(state, dict):
        state = TrainingStateData.from_dict(state)
    context = active.training.context
    try:
        ack = active.node.socket_call('update_training', context.organization, context.project,
                                      training_out(active, state), timeout=UPDATE_TRAINING_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - a socket failure of any kind is a failed sync
        raise MetricSyncError(f'update_training failed: {e}') from None
    active.cancel.check()
    if not (isinstance(ack, dict) and ack.get('success')):
        raise MetricSyncError(f'the Loop did not accept update_training: {ack!r}')
    logic._on_metrics_published(state)
    active.errors.reset(ERROR_KEY)
    log.info('metrics synced (epoch %s)', state.epoch)
