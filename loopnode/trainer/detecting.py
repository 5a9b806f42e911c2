"""Step `detecting` (trainer.md §6.6): the new model over every image of the project, in batches.

The model is downloaded into `detection_model/` (emptied first) and its `model.json` parsed strictly. Images of
the states inbox, annotate, review and complete are fetched into the cache as in `prepare`; then the logic's
`_detect` runs per batch of `inference_batch_size` and each batch is written as `detections_{k}.json`.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from ..data import DataError, Detections, ModelInformation
from .active import ActiveTraining
from .base_model import download_zip, extract_zip
from .data import fetch_image_ids
from .errors import DownloadError
from .images import download_images
from .protocols import ExecutorLogic

log = logging.getLogger(__name__)

DETECTION_STATES = ('inbox', 'annotate', 'review', 'complete')
DETECTION_MODEL_FOLDER = 'detection_model'


def download_detection_model(active: ActiveTraining, model_uuid: str, model_format: str) -> tuple[ModelInformation, Path]:
    """Empty `detection_model/`, fetch the model into it, parse its model.json; (info, folder)."""
    folder = active.training.training_path / DETECTION_MODEL_FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    zip_path = download_zip(active, model_uuid, model_format, active.training.training_path)
    try:
        extract_zip(zip_path, folder)
    finally:
        zip_path.unlink(missing_ok=True)
    try:
        info = ModelInformation.from_dict(json.loads((folder / 'model.json').read_text()))
    except FileNotFoundError:
        raise DownloadError(f'model {model_uuid} has no model.json') from None
    except (ValueError, DataError) as e:
        raise DownloadError(f'model.json of {model_uuid} is invalid: {e}') from None
    info.model_root_path = str(folder)
    return info, folder


def fetch_detection_images(active: ActiveTraining) -> list[tuple[str, Path]]:
    """Ids of the four states, downloaded into the cache; (id, path) of every image that has a file."""
    ids: list[str] = []
    for n, state in enumerate(DETECTION_STATES):
        active.cancel.check()
        active.progress = 0.1 * (n + 1)
        state_ids = fetch_image_ids(active, state)
        download_images(active.http, active.project_path(), state_ids, active.training.images_path, active.cancel)
        ids.extend(state_ids)
    active.progress = 0.42
    folder = active.training.images_path
    files = {p.stem: p for p in folder.glob('*.jpg')} if folder.is_dir() else {}
    return [(i, files[i]) for i in dict.fromkeys(ids) if i in files]


def run_detection_batches(active: ActiveTraining, logic: ExecutorLogic, info: ModelInformation, folder: Path,
                          images: list[tuple[str, Path]]) -> int:
    """`_detect` per batch → `detections_{k}.json`; returns the number of files written."""
    io = active.io
    io.delete_detections()  # files of an earlier attempt (retry, crash) must not be uploaded with these
    if not images:
        io.save_detections([], 0)
        return 1
    size = max(1, int(logic.inference_batch_size))
    count = 0
    for k, offset in enumerate(range(0, len(images), size)):
        active.cancel.check()
        active.progress = 0.5 + 0.5 * offset / len(images)
        batch = images[offset:offset + size]
        results = logic._detect(info, [str(p) for _, p in batch], str(folder))
        active.cancel.check()
        io.save_detections([_with_image_id(d) for d in results or []], k)
        count += 1
    active.progress = 1.0
    return count


def _with_image_id(detections: Any) -> Detections:
    if isinstance(detections, Detections):
        if not detections.image_id:
            raise ValueError('_detect returned Detections without image_id')
        return detections
    return Detections.from_dict(detections)
