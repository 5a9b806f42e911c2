"""The pure step table and outcome rules (trainer.md §2, §3)."""
from __future__ import annotations

import pytest

from loopnode.trainer.steps import (RESTING, STEPS, TRANSIENT, Outcome, State, backoff_delay, decide,
                                    reported_state, resume_state, step_after)


def test_table_chains_every_resting_state_to_cleanup() -> None:
    """The steps form one chain initialized → … → ready_for_cleanup; each `to` is the next step's start."""
    assert STEPS[0].start is State.Initialized
    for current, following in zip(STEPS, STEPS[1:]):
        assert current.to is following.start
    assert STEPS[-1].to is State.ReadyForCleanup
    assert step_after(State.TrainModelUploaded).key == 'detecting'
    assert step_after(State.TrainModelUploaded).to is State.Detected
    assert step_after(State.ReadyForCleanup) is None
    assert State.TrainingRunning.value == 'running'
    assert RESTING.isdisjoint(TRANSIENT)


def test_error_keys_are_the_spec_keys() -> None:
    assert [s.key for s in STEPS] == ['prepare', 'download_model', 'run_training', 'sync_confusion_matrix',
                                      'upload_model', 'detecting', 'upload_detections']


@pytest.mark.parametrize('state,expected', [(State.Detecting, State.TrainModelUploaded),
                                            (State.TrainingRunning, State.TrainModelDownloaded),
                                            (State.DataDownloading, State.Initialized),
                                            (State.Detected, State.Detected),
                                            (State.Preparing, State.Initialized)])
def test_transient_states_resume_at_their_start(state: State, expected: State) -> None:
    """A crash in `running` resumes at `train_model_downloaded` (§4.2); a record some other trainer left in
    the unused `preparing` resumes at `initialized` (no step follows it, so the training would never run)."""
    assert resume_state(state) is expected
    assert step_after(resume_state(state)) is not None


def test_backoff_schedule() -> None:
    """TF3: 5, 10, 20, 40, 80, 160, 300, 300 s."""
    assert [backoff_delay(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert backoff_delay(0) == 0


def test_outcomes() -> None:
    step = step_after(State.ConfusionMatrixSynced)
    ok = decide(step, Outcome.Success, 3)
    assert (ok.state, ok.persist, ok.clear_error, ok.failures, ok.wait) == (State.TrainModelUploaded, True, True, 0, 0)
    err = decide(step, Outcome.Error, 2, 'HTTP 500')
    assert (err.state, err.persist, err.error, err.failures, err.wait) == (State.ConfusionMatrixSynced, False,
                                                                             'HTTP 500', 3, 20)
    crit = decide(step, Outcome.Critical, 2, 'HTTP 422')
    assert (crit.state, crit.persist, crit.error, crit.failures) == (State.ReadyForCleanup, True, 'HTTP 422', 0)
    cancel = decide(step, Outcome.Cancelled, 1)
    assert (cancel.state, cancel.persist, cancel.error, cancel.clear_error) == (State.ReadyForCleanup, True, None,
                                                                                 False)
    down = decide(step, Outcome.Shutdown, 1)
    assert (down.state, down.persist, down.end_thread, down.exit_code) == (None, False, True, None)
    restart = decide(step, Outcome.Restart, 1, 'gpu gone')
    assert (restart.persist, restart.end_thread, restart.exit_code) == (False, True, 75)


def test_reported_state_rule() -> None:
    """0.27.0 rule: idle / blocked without training, waiting_for_slot when the slot is not ours."""
    assert reported_state(None, False, False) == 'idle'
    assert reported_state(None, True, False) == 'blocked'
    assert reported_state(State.Detecting, False, False) == 'waiting_for_slot'
    assert reported_state(State.Detecting, False, True) == 'detecting'
