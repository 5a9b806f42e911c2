"""Step `upload_model` (trainer.md §6.5): every format the logic produced, each once, to one model uuid.

`PUT P/trainings/{n}/models/latest/{format}/file` with the files plus one generated `upload/model.json`. The
returned uuid goes to `uploaded_model_uuid.txt` before the format is added to `model_uploading_progress.txt`,
so a crash between two formats repeats at most one upload (answered with 409 and the same uuid).
"""
from __future__ import annotations

import json
import logging
import uuid as uuidlib
from pathlib import Path
from typing import Any

import requests

from ..fsutil import atomic_write_bytes
from .active import ActiveTraining
from .errors import CriticalError, ModelUploadFailedError, TrainingCancelled
from .protocols import StepLogic

log = logging.getLogger(__name__)

TRANSIENT_4XX = frozenset({408, 429})


def model_files_by_format(logic: StepLogic) -> dict[str, list[Path]]:
    """`_get_latest_model_files()` as `{format: [paths]}` without any `model.json`; CriticalError if empty."""
    files: Any = logic._get_latest_model_files()
    if isinstance(files, (list, tuple)):
        files = {logic.model_format: list(files)}
    if not files or not isinstance(files, dict) or not any(files.values()):
        raise CriticalError('no model files; training might have failed')
    result: dict[str, list[Path]] = {}
    for fmt, paths in files.items():
        kept = []
        for path in paths or []:
            if Path(path).name == 'model.json':
                log.warning('dropping %s from the %s upload: the trainer generates model.json', path, fmt)
                continue
            kept.append(Path(path))
        result[str(fmt)] = kept
    return result


def write_model_json(active: ActiveTraining, logic: StepLogic) -> Path:
    """`upload/model.json` = categories plus `_get_model_metadata()`."""
    info = {'categories': [c.to_dict() for c in active.training.categories], **(logic._get_model_metadata() or {})}
    path = active.training.training_path / 'upload' / 'model.json'
    atomic_write_bytes(path, json.dumps(info, indent=2).encode())
    return path


def _valid_uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        uuidlib.UUID(value)
        return value
    except ValueError:
        return None


def upload_format(active: ActiveTraining, fmt: str, files: list[Path], model_json: Path) -> str | None:
    """One PUT; returns the model uuid (None for a 409 of an older Loop); raises per the answer table."""
    path = active.project_path(f'/trainings/{active.training.training_number}/models/latest/{fmt}/file')
    try:
        response = active.http.upload('PUT', path, [*files, model_json], cancel=active.cancel.event)
    except requests.RequestException as e:
        raise ModelUploadFailedError(f'model upload failed ({fmt}): {type(e).__name__}: {e}') from None
    code, text = response.status_code, response.text[:500]
    if code == 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        model_id = _valid_uuid(body.get('id') if isinstance(body, dict) else None)
        if model_id is None:
            raise ModelUploadFailedError(f'model upload ({fmt}) answered 200 without a model id: {text}')
        return model_id
    if code == 409:
        try:
            detail = response.json().get('detail')
        except (ValueError, AttributeError):
            detail = None
        model_id = _valid_uuid(detail.get('id') if isinstance(detail, dict) else None)
        if model_id is None:
            log.warning('format %s was already uploaded; the Loop sent no model id (older Loop)', fmt)
        else:
            log.info('format %s was already uploaded to model %s', fmt, model_id)
        return model_id
    if 400 <= code < 500 and code not in TRANSIENT_4XX:
        raise CriticalError(f'model upload failed: HTTP {code}: {text}')
    raise ModelUploadFailedError(f'model upload failed ({fmt}): HTTP {code}: {text}')


def upload_all_formats(active: ActiveTraining, logic: StepLogic) -> str:
    """Upload every format not on record yet; returns the model uuid (CriticalError when the Loop never sent one)."""
    io = active.io
    done = io.uploaded_formats()
    try:
        by_format = model_files_by_format(logic)
    except CriticalError:
        if not (done and io.uploaded_model_uuid()):
            raise
        by_format = {}  # resumed after every format was uploaded; the checkpoint may be gone by now
    pending = [fmt for fmt in by_format if fmt not in done]
    if pending:
        model_json = write_model_json(active, logic)
        for fmt in pending:
            active.cancel.check()
            model_id = upload_format(active, fmt, by_format[fmt], model_json)
            if active.aborted:
                raise TrainingCancelled()  # an upload answered after an abort is discarded
            if model_id is not None:  # also on shutdown: the resumed training must not upload it again
                io.save_uploaded_model_uuid(model_id)
            io.mark_format_uploaded(fmt)
            log.info('uploaded format %s (model %s)', fmt, model_id or io.uploaded_model_uuid())
    model_uuid = io.uploaded_model_uuid()
    if model_uuid is None:
        raise CriticalError('the model is uploaded, but the Loop never answered with its id')
    return model_uuid
