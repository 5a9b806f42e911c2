"""The training thread: drives the step table of `steps.py` for one ActiveTraining (trainer.md §3).

Each pass runs the step that follows the current resting state, classifies how it ended (`Outcome`) and
applies `steps.decide()`: new state, error key, failure count, persist, backoff wait. A cancelled training
goes to `ready_for_cleanup` and is cleaned up; shutdown ends the thread without writing anything.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from ..errors import NodeNeedsRestartError
from .active import ActiveTraining
from .cancel import CancelToken
from .cleanup import clean_up
from .errors import CriticalError, TrainingCancelled
from .steps import Decision, Outcome, State, Step, decide, step_after

if TYPE_CHECKING:
    from .logic import TrainerLogicGeneric

log = logging.getLogger(__name__)


def step_hooks(logic: 'TrainerLogicGeneric') -> dict[str, Callable[[], None]]:
    """Which logic hook does the work of each step (the table's "Work" column)."""
    return {'prepare': logic._prepare, 'download_model': logic._download_model, 'run_training': logic._train,
            'sync_confusion_matrix': logic._sync_confusion_matrix, 'upload_model': logic._upload_model,
            'detecting': logic._do_detections, 'upload_detections': logic._upload_detections}


class TrainingMachine:
    """Runs on the `training` thread; `on_end(active, cleaned_up, exit_code)` tells the node it is over."""

    def __init__(self, active: ActiveTraining, logic: 'TrainerLogicGeneric',
                 on_cleaned_up: Callable[[ActiveTraining], None],
                 on_end: Callable[[ActiveTraining, int | None], None],
                 backoff_wait: Callable[[CancelToken, float], bool] | None = None) -> None:
        self.active = active
        self.backoff_wait = backoff_wait or (lambda token, seconds: token.wait(seconds))  # tests inject a clock
        self.logic = logic
        self.on_cleaned_up = on_cleaned_up
        self.on_end = on_end
        self.hooks = step_hooks(logic)

    def run(self) -> None:
        """The thread body: steps until cleanup, shutdown or an exit request."""
        active = self.active
        exit_code: int | None = None
        try:
            active.errors.reset_all()
            active.failures.clear()
            exit_code = self._drive()
        except Exception:  # noqa: BLE001 - the record on disk stays; the next repeat cycle resumes it
            log.exception('the training state machine failed; the training is dropped and resumed later')
        finally:
            self.on_end(active, exit_code)

    def _drive(self) -> int | None:
        active = self.active
        while True:
            if active.shutting_down:
                return None
            if active.aborted and active.state is not State.ReadyForCleanup:
                active.set_state(State.ReadyForCleanup)
                active.persist()
            if active.state is State.ReadyForCleanup:
                if active.shutting_down:
                    return None
                clean_up(active, self.logic)
                self.on_cleaned_up(active)
                active.cleaned_up.set()
                return None
            step = step_after(active.state)
            if step is None:
                raise RuntimeError(f'no step follows state {active.state.value}')
            outcome, message = self._run_step(step)
            decision = decide(step, outcome, active.failures.get(step.key, 0), message)
            exit_code = self._apply(step, outcome, decision)
            if decision.end_thread:
                return exit_code

    def _run_step(self, step: Step) -> tuple[Outcome, str | None]:
        active = self.active
        active.set_state(step.during)
        active.progress = None
        try:
            self.hooks[step.key]()
            outcome, message = Outcome.Success, None
        except TrainingCancelled:
            outcome, message = Outcome.Cancelled, None
        except CriticalError as e:
            outcome, message = Outcome.Critical, str(e) or type(e).__name__
        except NodeNeedsRestartError as e:
            outcome, message = Outcome.Restart, str(e)
        except Exception as e:  # noqa: BLE001 - every other exception is retried with backoff
            outcome, message = Outcome.Error, f'{e}' if str(e) else type(e).__name__
        if active.shutting_down:
            return Outcome.Shutdown, None
        if active.aborted and outcome is not Outcome.Restart:
            return Outcome.Cancelled, None
        return outcome, message

    def _apply(self, step: Step, outcome: Outcome, decision: Decision) -> int | None:
        active = self.active
        if outcome is Outcome.Error:
            log.error('step %s failed (attempt %d): %s; retrying in %.0f s', step.key, decision.failures,
                      decision.error, decision.wait)
        elif outcome is Outcome.Critical:
            log.error('step %s failed critically: %s', step.key, decision.error)
        elif outcome is Outcome.Cancelled:
            log.info('training %s cancelled in %s', active.training.id[:8], step.during.value)
        elif outcome is Outcome.Restart:
            log.error('step %s needs a process restart: %s', step.key, decision.error)
        if decision.end_thread:
            return decision.exit_code
        if decision.clear_error:
            active.errors.reset(step.key)
        if decision.error is not None:
            active.errors.set(step.key, decision.error)
        active.failures[step.key] = decision.failures
        if decision.state is not None:
            active.set_state(decision.state)
        if decision.persist:
            active.persist()
        if decision.wait:
            self.backoff_wait(active.cancel, decision.wait)
        return None
