"""Pure parts of `prepare`: the 0.27.0 validation-set rule and the progress log (trainer.md §6.1)."""
from __future__ import annotations

import logging

import pytest

from loopnode.trainer.data import split_sets, validation_fraction
from loopnode.trainer.errors import CriticalError
from loopnode.trainer.images import ProgressLog


def records(n: int, image_set: str = 'train') -> list[dict]:
    return [{'id': f'{image_set}-image-{i}', 'set': image_set} for i in range(n)]


def test_existing_val_set_is_kept() -> None:
    given = records(5) + [{'id': 'v', 'set': 'val'}]
    assert split_sets(given, {'compute_validation_set': True}) == given


def test_computed_validation_set() -> None:
    given = records(200) + records(3, 'test')
    result = split_sets(given, {'compute_validation_set': True})
    moved = [r for r in result if r['set'] == 'val']
    assert moved and all(validation_fraction(r['id']) < 0.1 for r in moved)
    assert 5 < len(moved) < 40 and len([r for r in result if r['set'] == 'test']) == 3
    assert split_sets(given, {}) == given  # not requested: no val set


def test_lowest_hash_moves_when_none_falls_below() -> None:
    ids = [f'id-{n}' for n in range(100) if validation_fraction(f'id-{n}') >= 0.1][:3]
    given = [{'id': i, 'set': 'train'} for i in ids]
    result = split_sets(given, {'compute_validation_set': True})
    assert [r['id'] for r in result if r['set'] == 'val'] == [min(ids, key=validation_fraction)]


@pytest.mark.parametrize('hyper,given', [({'compute_validation_set': 'yes'}, records(5)),
                                         ({'compute_validation_set': True}, records(1))])
def test_bad_requests_are_critical(hyper: dict, given: list[dict]) -> None:
    with pytest.raises(CriticalError):
        split_sets(given, hyper)


def test_progress_log_every_tenth_or_five_seconds(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    progress = ProgressLog('downloading', 100, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger='loopnode.trainer.images'):
        for done in range(1, 101):
            now[0] += 0.01
            progress.update(done)
        now[0] += 6
        slow = ProgressLog('slow', 1000, clock=lambda: now[0])
        now[0] += 5.1
        slow.update(3)
    lines = [r.getMessage() for r in caplog.records]
    assert len([line for line in lines if line.startswith('downloading')]) == 10
    assert lines[-1].startswith('slow: 3 of 1000 (') and 'ETA' in lines[-1]
