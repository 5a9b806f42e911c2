"""Cleanup after a finished, aborted or failed training (trainer.md §6.8), minus what the node does itself.

Deletes the detection files and cursors, lets the logic clear its data (an exception is logged, cleanup goes
on), and deletes the last-training file. The node then sends `update_trainer` once, drops the training,
releases the slot and, with RESTART_AFTER_TRAINING, exits with 75.
"""
from __future__ import annotations

import logging
from .active import ActiveTraining
from .protocols import StepLogic

log = logging.getLogger(__name__)


def clean_up(active: ActiveTraining, logic: StepLogic) -> None:
    """Steps 1–3 of §6.8."""
    try:
        active.io.delete_detections()
    except OSError as e:
        log.error('could not delete the detection files: %s', e)
    try:
        logic._clear_training_data(active.training.training_folder)
    except Exception:  # noqa: BLE001 - cleanup must complete whatever the logic does
        log.exception('_clear_training_data failed; cleanup continues')
    active.record_file.delete()
    log.info('training %s cleaned up', active.training.id)
