"""Step `run_training` for executor-based logics (trainer.md §6.3): start, poll every 0.1 s, judge the end.

Every > 5 s while the process runs, the log is checked for an error (which stops the polling) and, if none,
`run_training` is cleared and the metrics are synced (failures logged). After the process ends, a log error
or a non-zero exit code without a stop request is a `TrainingError`. The process group is stopped on every
exit path.
"""
from __future__ import annotations

import logging
import time
from .active import ActiveTraining
from .errors import TrainingError
from .protocols import ExecutorLogic

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.1
SYNC_INTERVAL = 5.0
ERROR_KEY = 'run_training'


def start_process(active: ActiveTraining, logic: ExecutorLogic) -> None:
    """Resume from a checkpoint, else continue from the base model, else start from scratch."""
    if logic._can_resume():
        log.info('resuming the training from its checkpoint')
        logic._resume()
    elif (active.training.training_path / 'base_model.json').exists():
        log.info('starting the training from the base model')
        logic._start_training_from_base_model()
    else:
        log.info('starting the training from scratch (%s)', active.training.model_variant or 'no variant')
        logic._start_training_from_scratch()


def run_executor_training(active: ActiveTraining, logic: ExecutorLogic) -> None:
    """The whole step; raises TrainingError, TrainingCancelled or whatever a hook raised."""
    try:
        start_process(active, logic)
        executor = logic.executor
        last_check = time.monotonic()
        log_error: str | None = None
        stop_sent = False
        while executor.is_running():
            active.cancel.check()
            if active.stop_requested and not stop_sent:
                stop_sent = True
                log.info('stopping the training process gracefully')
                logic._stop_running_training()
                continue
            if time.monotonic() - last_check > SYNC_INTERVAL:
                last_check = time.monotonic()
                log_error = logic._get_executor_error_from_log()
                if log_error:
                    break
                active.errors.reset(ERROR_KEY)
                logic._sync_training()
            active.cancel.wait(POLL_INTERVAL)
        active.cancel.check()
        if log_error is None:
            log_error = logic._get_executor_error_from_log()
        code = executor.stop()  # ends a process we broke away from; reaps; its exit code
        active.cancel.check()
        if log_error:
            if active.stop_requested:
                log.warning('the training log reports an error after the requested stop: %s', log_error)
            else:
                raise TrainingError(log_error)
        if code not in (0, None) and not active.stop_requested:
            raise TrainingError(f'training process exited with code {code}')
    finally:
        if logic._executor is not None and logic._executor.is_running():
            logic._executor.stop()
