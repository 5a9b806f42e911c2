"""The trainer's state machine as data (trainer.md §2, §3): the step table and the outcome rules. Pure.

Read `STEPS` to see what happens after a resting state: e.g. after `train_model_uploaded` comes the step
`detecting` (state `detecting` while it runs), which ends in `detected`. `decide()` turns a step's outcome into
what the training thread does next; it does no I/O, so the rules are unit-tested on their own.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class State(str, enum.Enum):
    """Trainer state strings (loop-protocol.md §8.2)."""

    Idle = 'idle'
    Blocked = 'blocked'
    WaitingForSlot = 'waiting_for_slot'
    Initialized = 'initialized'
    Preparing = 'preparing'  # defined for compatibility, never used
    DataDownloading = 'data_downloading'
    DataDownloaded = 'data_downloaded'
    TrainModelDownloading = 'train_model_downloading'
    TrainModelDownloaded = 'train_model_downloaded'
    TrainingRunning = 'running'
    TrainingFinished = 'training_finished'
    ConfusionMatrixSyncing = 'confusion_matrix_syncing'
    ConfusionMatrixSynced = 'confusion_matrix_synced'
    TrainModelUploading = 'train_model_uploading'
    TrainModelUploaded = 'train_model_uploaded'
    Detecting = 'detecting'
    Detected = 'detected'
    DetectionUploading = 'detection_uploading'
    ReadyForCleanup = 'ready_for_cleanup'


@dataclass(frozen=True)
class Step:
    """One row of the table: the step (= its error key) runs from a resting state, shows `during`, ends in `to`."""

    key: str
    start: State
    during: State
    to: State


STEPS: tuple[Step, ...] = (
    Step('prepare', State.Initialized, State.DataDownloading, State.DataDownloaded),
    Step('download_model', State.DataDownloaded, State.TrainModelDownloading, State.TrainModelDownloaded),
    Step('run_training', State.TrainModelDownloaded, State.TrainingRunning, State.TrainingFinished),
    Step('sync_confusion_matrix', State.TrainingFinished, State.ConfusionMatrixSyncing, State.ConfusionMatrixSynced),
    Step('upload_model', State.ConfusionMatrixSynced, State.TrainModelUploading, State.TrainModelUploaded),
    Step('detecting', State.TrainModelUploaded, State.Detecting, State.Detected),
    Step('upload_detections', State.Detected, State.DetectionUploading, State.ReadyForCleanup),
)
STEP_FROM: dict[State, Step] = {step.start: step for step in STEPS}
STEP_DURING: dict[State, Step] = {step.during: step for step in STEPS}
RESTING: frozenset[State] = frozenset({step.start for step in STEPS} | {State.ReadyForCleanup})
TRANSIENT: frozenset[State] = frozenset(step.during for step in STEPS)
TRAINING_STATES: frozenset[State] = RESTING | TRANSIENT | {State.Preparing}
ERROR_KEYS: tuple[str, ...] = tuple(step.key for step in STEPS)

BACKOFF_BASE = 5.0
BACKOFF_CAP = 300.0


def step_after(state: State) -> Step | None:
    """The step that runs from a resting `state`; None for `ready_for_cleanup` (cleanup follows)."""
    return STEP_FROM.get(state)


def resume_state(state: State) -> State:
    """Where a training stored (or shown) in `state` resumes: transient states fall back to their start."""
    if state is State.Preparing:  # defined but never used: no step follows it
        return State.Initialized
    step = STEP_DURING.get(state)
    return step.start if step is not None else state


def backoff_delay(failures: int) -> float:
    """Wait after the n-th consecutive failure of a step: 5, 10, 20, 40, 80, 160, 300, 300 … s."""
    if failures < 1:
        return 0.0
    return min(BACKOFF_BASE * 2 ** min(failures - 1, 30), BACKOFF_CAP)


class Outcome(str, enum.Enum):
    """How a step ended (trainer.md §3.2)."""

    Success = 'success'
    Error = 'error'  # an ordinary exception: retried with backoff
    Critical = 'critical'  # CriticalError
    Cancelled = 'cancelled'  # abort, or a stop that cannot be graceful
    Shutdown = 'shutdown'  # the node stops: nothing is persisted
    Restart = 'restart'  # NodeNeedsRestartError: exit 75 at once


@dataclass(frozen=True)
class Decision:
    """What the training thread does after an outcome."""

    state: State | None  # new state of the training (None: leave it, the thread ends)
    persist: bool  # write the record
    error: str | None  # message to store under the step's key
    clear_error: bool  # remove the step's key (after a success)
    failures: int  # the step's consecutive failure count afterwards
    wait: float  # seconds to wait before the next attempt (0: at once)
    end_thread: bool  # stop driving the table (shutdown, restart)
    exit_code: int | None = None  # request the process to exit with this code


def decide(step: Step, outcome: Outcome, failures: int, message: str | None = None) -> Decision:
    """The §3.2 rule for `outcome` of `step` after `failures` earlier consecutive failures."""
    if outcome is Outcome.Success:
        return Decision(step.to, persist=True, error=None, clear_error=True, failures=0, wait=0.0, end_thread=False)
    if outcome is Outcome.Error:
        n = failures + 1
        return Decision(step.start, persist=False, error=message or 'unknown error', clear_error=False, failures=n,
                        wait=backoff_delay(n), end_thread=False)
    if outcome is Outcome.Critical:
        return Decision(State.ReadyForCleanup, persist=True, error=message or 'critical error', clear_error=False,
                        failures=0, wait=0.0, end_thread=False)
    if outcome is Outcome.Cancelled:
        return Decision(State.ReadyForCleanup, persist=True, error=None, clear_error=False, failures=0, wait=0.0,
                        end_thread=False)
    if outcome is Outcome.Shutdown:
        return Decision(None, persist=False, error=None, clear_error=False, failures=failures, wait=0.0,
                        end_thread=True)
    return Decision(None, persist=False, error=None, clear_error=False, failures=failures, wait=0.0, end_thread=True,
                    exit_code=75)


def reported_state(training_state: State | None, slot_held_by_sibling: bool, slot_held_by_us: bool) -> str:
    """The `state` of `update_trainer` (0.27.0 rule, trainer.md §2)."""
    if training_state is None:
        return State.Blocked.value if slot_held_by_sibling else State.Idle.value
    if not slot_held_by_us:
        return State.WaitingForSlot.value
    return training_state.value
