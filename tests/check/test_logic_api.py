"""The `--logic` API each node type needs, by duck typing (detector.md §5.1, trainer.md §9, A6, B4)."""
from __future__ import annotations

from typing import Any

import pytest

from loopnode.check.logic_api import (ANNOTATOR_REQUIRED, CONVERTER_REQUIRED, TRAINER_EXECUTOR, TRAINER_GENERIC,
                                      TRAINER_REQUIRED, logic_api_problems)
from loopnode.detector import MockDetectorFactory


def made(members: tuple[str, ...], **attributes: Any) -> Any:
    """An instance of a class with a method for each name in members, plus attributes."""
    cls = type('Made', (), {name: (lambda self: None) for name in members})
    obj = cls()
    for name, value in attributes.items():
        setattr(obj, name, value)
    return obj


def test_detector_factory() -> None:
    assert logic_api_problems('detector', MockDetectorFactory()) == ([], 'a detector factory for format mocked')
    problems, _ = logic_api_problems('detector', object())
    assert problems == ['model_format must be a non-empty string (got None)', 'build(model_info) is missing']


def test_trainer_generic_or_executor_layer() -> None:
    assert logic_api_problems('trainer', made(TRAINER_REQUIRED + TRAINER_GENERIC, model_format='yolo'))[0] == []
    assert logic_api_problems('trainer', made(TRAINER_REQUIRED + TRAINER_EXECUTOR, model_format='yolo'))[0] == []
    problems, what = logic_api_problems('trainer', made(TRAINER_REQUIRED[1:], model_format='yolo'))
    assert what == 'a trainer logic for format yolo'
    assert problems[0] == 'training_progress is missing'
    assert problems[1].startswith('neither _train/_do_detections (TrainerLogicGeneric) nor _start_training')


def test_trainer_properties_are_not_evaluated() -> None:
    class Trainer:
        model_format = 'yolo'

        @property
        def training_progress(self) -> float:
            raise RuntimeError('no training')

    for name in TRAINER_REQUIRED[1:] + TRAINER_GENERIC:
        setattr(Trainer, name, lambda self: None)
    assert logic_api_problems('trainer', Trainer())[0] == []


def test_annotator_and_converter() -> None:
    assert logic_api_problems('annotator', made(ANNOTATOR_REQUIRED)) == ([], 'an annotator logic')
    assert logic_api_problems('annotator', made(ANNOTATOR_REQUIRED[:2]))[0] == ['logout_user is missing']
    converter = made(CONVERTER_REQUIRED, source_format='a', target_format='b')
    assert logic_api_problems('converter', converter) == ([], 'a converter logic from a to b')
    assert logic_api_problems('converter', made(()))[0] == [
        '_convert is missing', 'get_converted_files is missing', 'source_format must be a non-empty string (got None)',
        'target_format must be a non-empty string (got None)']


def test_the_shipped_mock_logics_pass() -> None:
    """The mocks of main's annotator and converter nodes have the API their nodes call."""
    from loopnode.annotator import MockAnnotatorLogic
    from loopnode.converter import MockConverterLogic
    assert logic_api_problems('annotator', MockAnnotatorLogic()) == ([], 'an annotator logic')
    assert logic_api_problems('converter', MockConverterLogic()) == (
        [], 'a converter logic from mocked to mocked_converted')


def test_a_hook_left_to_the_base_class_counts_as_missing() -> None:
    """A ConverterLogic subclass without `get_converted_files` still has the base's NotImplementedError one."""
    from loopnode.converter import ConverterLogic

    class HalfDone(ConverterLogic):
        def _convert(self, model_information: Any) -> None:
            pass

    problems, _ = logic_api_problems('converter', HalfDone('onnx', 'tensorrt'))
    assert problems == ["get_converted_files is not implemented (still ConverterLogic's)"]


def test_unknown_node_type() -> None:
    with pytest.raises(ValueError):
        logic_api_problems('robot', object())
