"""Pure version-control rules (detector.md §7.1-§7.3, §7.6): modes, targets, backoff, skipping."""
from __future__ import annotations

import pytest

from loopnode.detector.models.versions import (FOLLOW_LOOP, PAUSE, SPECIFIC_VERSION, FailureKind, Target, VersionControl,
                                        is_valid_version, parse_version_request, retry_delay, skipped_error_text,
                                        sort_versions, update_error_text, versions_to_prune)

A = Target('uuid-a', '1.0')
B = Target('uuid-b', '1.1')
C = Target('uuid-c', '1.2')


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize('text', ['1', '1.1', '0.0', '2.10.3', '10.0'])
def test_valid_versions(text: str) -> None:
    assert is_valid_version(text)


@pytest.mark.parametrize('text', ['', '1.', '.1', '1.x.y', 'bogus', '1..2', ' 1.1', '1.1 ', '-1', '1.1.partial',
                                  '1.1\n'])
def test_invalid_versions(text: str) -> None:
    assert not is_valid_version(text)


def test_sort_versions_numeric_and_filtered() -> None:
    names = ['1.10', '1.9', '1.2.partial', 'notes', '2', '0.0', '1.9']
    assert sort_versions(names) == ['0.0', '1.9', '1.10', '2']


def test_retry_delay_doubles_up_to_300() -> None:
    assert [retry_delay(k) for k in range(0, 9)] == [0, 5, 10, 20, 40, 80, 160, 300, 300]
    assert retry_delay(1000) == 300


def test_parse_version_request() -> None:
    """F18: modes, quoted modes, versions; `1.x.y` and `bogus` are invalid."""
    assert parse_version_request('follow_loop') == (FOLLOW_LOOP, None)
    assert parse_version_request('"pause"') == (PAUSE, None)
    assert parse_version_request(' pause\n') == (PAUSE, None)
    assert parse_version_request('1.2') == (SPECIFIC_VERSION, '1.2')
    assert parse_version_request('"1.2"') == (SPECIFIC_VERSION, '1.2')
    for bad in ('1.x.y', 'bogus', '"bogus"', '', '"', 'specific_version'):
        with pytest.raises(ValueError, match='Invalid version number'):
            parse_version_request(bad)


def test_follow_loop_adopts_the_loop_target() -> None:
    vc = VersionControl()
    assert vc.next_job(None) is None
    vc.on_loop_target(B)
    assert (vc.mode, vc.target, vc.loop_target) == (FOLLOW_LOOP, B, B)
    assert vc.next_job(None) == B
    assert vc.next_job('1.1') is None  # already active


def test_no_loop_target_keeps_the_target() -> None:
    vc = VersionControl()
    vc.on_loop_target(B)
    vc.on_loop_target(None)
    assert vc.target == B and vc.loop_target is None


def test_pause_keeps_pending_target_and_ignores_loop() -> None:
    vc = VersionControl(PAUSE)
    vc.on_loop_target(B)
    assert vc.target is None and vc.loop_target == B
    vc.follow_loop()
    assert vc.target == B
    vc.pause()
    vc.on_loop_target(C)
    assert (vc.mode, vc.target, vc.loop_target) == (PAUSE, B, C)
    assert vc.next_job('1.0') == B  # a pending target is still applied


def test_specific_version_ignores_loop_until_follow_loop() -> None:
    vc = VersionControl()
    vc.on_loop_target(B)
    vc.choose(A)
    assert (vc.mode, vc.target) == (SPECIFIC_VERSION, A)
    vc.on_loop_target(C)
    assert vc.target == A and vc.loop_target == C
    vc.follow_loop()
    assert (vc.mode, vc.target) == (FOLLOW_LOOP, C)


def test_backoff_applies_in_specific_version() -> None:
    """F17 (pure part): transport failures back off 5 s, 10 s, 20 s … in specific_version and never skip."""
    clock = FakeClock()
    vc = VersionControl(clock=clock)
    vc.choose(A)
    for k, delay in enumerate([5, 10, 20, 40, 80, 160, 300, 300], start=1):
        assert vc.next_job(None) == A
        text = vc.record_failure('1.0', FailureKind.TRANSPORT, 'HTTP 500: boom')
        assert text == 'Could not update model: HTTP 500: boom'
        assert vc.failures('1.0') == (k, 0)
        clock.now += delay - 0.01
        assert vc.next_job(None) is None
        clock.now += 0.01
    assert vc.skipped == []


def test_three_artifact_failures_skip_until_target_changes() -> None:
    """F20 (pure part): third artifact failure skips the version with the §7.6 text."""
    clock = FakeClock()
    vc = VersionControl(clock=clock)
    vc.on_loop_target(B)
    vc.record_failure('1.1', FailureKind.ARTIFACT, 'build failed')
    clock.now += 5
    vc.record_failure('1.1', FailureKind.TRANSPORT, 'timeout')  # transport does not count toward skipping
    clock.now += 10
    assert vc.record_failure('1.1', FailureKind.ARTIFACT, 'x') == update_error_text('x')
    clock.now += 20
    text = vc.record_failure('1.1', FailureKind.ARTIFACT, 'build failed')
    assert text == 'Could not update model: version 1.1 failed 3 times; waiting for a new target'
    assert text == skipped_error_text('1.1') and vc.error == text
    assert vc.skipped == ['1.1']
    clock.now += 10_000
    assert vc.next_job('1.0') is None
    vc.on_loop_target(B)  # same target again: still skipped
    assert vc.next_job('1.0') is None
    vc.on_loop_target(C)  # target changed
    assert vc.skipped == [] and vc.next_job('1.0') == C
    vc.on_loop_target(B)
    assert vc.next_job('1.0') == B  # counting starts afresh


def test_naming_a_skipped_version_again_unskips_it() -> None:
    vc = VersionControl(clock=FakeClock())
    vc.choose(A)
    for _ in range(3):
        vc.record_failure('1.0', FailureKind.ARTIFACT, 'bad')
    assert vc.next_job(None) is None
    vc.choose(A)
    assert vc.next_job(None) == A


def test_startup_failure_counts_for_the_later_target() -> None:
    """§7.8: a start-up load failure is an artifact failure of that version."""
    clock = FakeClock()
    vc = VersionControl(clock=clock)
    vc.record_failure('1.1', FailureKind.ARTIFACT, 'build failed')
    vc.on_loop_target(B)
    assert vc.failures('1.1') == (1, 1)
    assert vc.next_job(None) is None
    clock.now += 5
    assert vc.next_job(None) == B


def test_success_clears_error_and_failures() -> None:
    clock = FakeClock()
    vc = VersionControl(clock=clock)
    vc.on_loop_target(B)
    vc.record_failure('1.1', FailureKind.ARTIFACT, 'bad')
    vc.record_success('1.1')
    assert vc.error is None and vc.failures('1.1') == (0, 0)


def test_restore_default() -> None:
    vc = VersionControl(PAUSE, clock=FakeClock())
    vc.choose(A)
    for _ in range(3):
        vc.record_failure('1.0', FailureKind.ARTIFACT, 'bad')
    vc.restore_default()
    assert (vc.mode, vc.target, vc.error, vc.skipped) == (PAUSE, None, None, [])


def test_default_mode_must_be_follow_loop_or_pause() -> None:
    with pytest.raises(ValueError):
        VersionControl(SPECIFIC_VERSION)


def test_versions_to_prune() -> None:
    """F22 (pure part): active and target stay, then the most recently activated, until KEEP_MODELS remain."""
    mtimes = {'1.0': 10.0, '1.1': 50.0, '1.2': 30.0, '1.3': 40.0, '1.4': 20.0}
    assert versions_to_prune(mtimes, 3, ['1.0', '1.4']) == ['1.2', '1.3']
    assert versions_to_prune(mtimes, 3, ['1.1', None]) == ['1.0', '1.4']
    assert versions_to_prune(mtimes, 0, ['1.1']) == []
    assert versions_to_prune(mtimes, 1, ['1.0', '1.4']) == ['1.1', '1.2', '1.3']  # protected beat the limit
    assert versions_to_prune(mtimes, 10, ['9.9']) == []


def test_error_cleared_when_target_returns_to_the_active_version() -> None:
    vc = VersionControl(clock=FakeClock())
    vc.on_loop_target(B)
    vc.record_failure('1.1', FailureKind.ARTIFACT, 'bad')
    assert not vc.settle('1.0') and vc.error is not None  # 1.1 still pending
    vc.on_loop_target(A)
    assert vc.settle('1.0') and vc.error is None
    assert not vc.settle('1.0')
