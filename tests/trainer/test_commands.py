"""Validation of begin_training (trainer.md §5.1, loop-protocol.md §7.12)."""
from __future__ import annotations

import pytest

from loopnode.trainer.commands import parse_begin_training

CATEGORY = {'id': 'c1', 'name': 'box', 'type': 'box'}
GOOD = {'categories': [CATEGORY], 'training_number': 3, 'model_variant': '', 'hyperparameters': {}}


def test_valid_details() -> None:
    parsed = parse_begin_training('zauberzeug', 'demo', GOOD | {'id': 'legacy', 'base_model_uuid': None})
    assert parsed.training_number == 3 and parsed.categories[0].name == 'box'


@pytest.mark.parametrize('details,needle', [
    ({k: v for k, v in GOOD.items() if k != 'categories'}, 'categories'),
    (GOOD | {'training_number': '3'}, 'training_number'),
    (GOOD | {'training_number': True}, 'training_number'),
    (GOOD | {'training_number': 3.5}, 'training_number'),
    (GOOD | {'categories': [{'name': 'no id'}]}, 'categories[0]'),
    (GOOD | {'categories': 'box'}, 'categories'),
    (GOOD | {'hyperparameters': []}, 'hyperparameters'),
    (GOOD | {'model_variant': 5}, 'model_variant'),
    (GOOD | {'base_model_uuid': 12}, 'base_model_uuid'),
    ('not an object', 'details'),
])
def test_malformed_details(details: object, needle: str) -> None:
    """TF2 (unit part): wrong types, missing categories, a bool as a number → a reason naming the field."""
    with pytest.raises(ValueError, match=needle.replace('[', r'\[').replace(']', r'\]')):
        parse_begin_training('zauberzeug', 'demo', details)


@pytest.mark.parametrize('org,project', [('', 'demo'), ('..', 'demo'), ('a/b', 'demo'), ('z', 5)])
def test_ids_that_cannot_name_a_folder(org: object, project: object) -> None:
    with pytest.raises(ValueError):
        parse_begin_training(org, project, GOOD)
