"""Does a `--logic` object have the API its node type calls? Duck typing on the hook names of the spec.

detector.md §5.1 (factory), trainer.md §9, annotator-converter.md §A6 and §B4. Members are looked up on the
class where possible, so properties such as `training_progress` are not evaluated. A hook still inherited
from loopnode's own base class (whose version raises NotImplementedError) counts as missing.
"""
from __future__ import annotations

import importlib
from typing import Any

TRAINER_REQUIRED = ('training_progress', 'model_architecture', 'provided_pretrained_models',
                    '_get_new_best_training_state', '_on_metrics_published', '_get_latest_model_files',
                    '_clear_training_data')
TRAINER_GENERIC = ('_train', '_do_detections')
TRAINER_EXECUTOR = ('_start_training_from_base_model', '_start_training_from_scratch', '_can_resume', '_resume',
                    '_detect')
ANNOTATOR_REQUIRED = ('handle_user_input', 'create_empty_history', 'logout_user')
CONVERTER_REQUIRED = ('_convert', 'get_converted_files')
CONVERTER_ATTRIBUTES = ('source_format', 'target_format')


def _has(obj: Any, name: str) -> bool:
    return hasattr(type(obj), name) or name in getattr(obj, '__dict__', {})


def _callable(obj: Any, name: str) -> bool:
    return callable(getattr(obj, name, None))


def _inherited(obj: Any, names: tuple[str, ...], module: str, class_name: str) -> list[str]:
    """The hooks of `names` that obj's class takes unchanged from loopnode's `module.class_name` (if it exists)."""
    try:
        base = getattr(importlib.import_module(module), class_name)
    except (ImportError, AttributeError):
        return []
    if not isinstance(obj, base):
        return []
    return [f'{name} is not implemented (still {class_name}\'s)' for name in names
            if name in vars(base) and getattr(type(obj), name, None) is vars(base)[name]]


def _format_of(obj: Any, name: str) -> tuple[str | None, str | None]:
    """The string attribute `name` of obj, or an error text."""
    value = getattr(obj, name, None)
    if not isinstance(value, str) or not value:
        return None, f'{name} must be a non-empty string (got {value!r})'
    return value, None


def logic_api_problems(node_type: str, logic: Any) -> tuple[list[str], str]:
    """What is missing for `node_type` (empty when nothing is) and a short description of what the logic is."""
    if node_type == 'detector':
        model_format, error = _format_of(logic, 'model_format')
        missing = [error] if error else []
        if not callable(getattr(logic, 'build', None)):
            missing.append('build(model_info) is missing')
        return missing, f'a detector factory for format {model_format}'
    if node_type == 'trainer':
        model_format, error = _format_of(logic, 'model_format')
        missing = [error] if error else []
        missing += [f'{name} is missing' for name in TRAINER_REQUIRED if not _has(logic, name)]
        missing += _inherited(logic, TRAINER_REQUIRED, 'loopnode.trainer', 'TrainerLogicGeneric')
        missing += _inherited(logic, TRAINER_EXECUTOR, 'loopnode.trainer', 'TrainerLogic')
        generic = all(_callable(logic, name) for name in TRAINER_GENERIC)
        executor = [name for name in TRAINER_EXECUTOR if not _callable(logic, name)]
        if not generic and executor:
            missing.append('neither _train/_do_detections (TrainerLogicGeneric) nor '
                           f'{", ".join(executor)} (TrainerLogic) is there')
        return missing, f'a trainer logic for format {model_format}'
    if node_type == 'annotator':
        missing = [f'{name} is missing' for name in ANNOTATOR_REQUIRED if not _callable(logic, name)]
        return missing, 'an annotator logic'
    if node_type == 'converter':
        missing = [f'{name} is missing' for name in CONVERTER_REQUIRED if not _callable(logic, name)]
        missing += _inherited(logic, CONVERTER_REQUIRED, 'loopnode.converter', 'ConverterLogic')
        formats = []
        for name in CONVERTER_ATTRIBUTES:
            value, error = _format_of(logic, name)
            formats.append(value)
            if error:
                missing.append(error)
        return missing, f'a converter logic from {formats[0]} to {formats[1]}'
    raise ValueError(f'unknown node type {node_type!r}')
