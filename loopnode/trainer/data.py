"""Step `prepare`: the training data (trainer.md §6.1): image ids, metadata in chunks of 100, image files.

Progress 0 → 0.5 over the metadata chunks and 0.5 → 1.0 over the files. Records whose file is valid become
`image_data`; the rest are counted in `skipped_image_count`. The validation-set rule of 0.27.0 is `split_sets`.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any, Sequence

import requests

from .active import ActiveTraining
from .errors import CriticalError, DownloadError
from .images import download_images, image_path

log = logging.getLogger(__name__)

METADATA_CHUNK = 100
DATA_TIMEOUT = (10.0, 60.0)


def fetch_image_ids(active: ActiveTraining, state: str) -> list[str]:
    """`GET P/data?state=<state>` → `image_ids`; raises DownloadError for a non-200 or a bad body."""
    try:
        response = active.http.get(active.project_path('/data'), params={'state': state}, timeout=DATA_TIMEOUT,
                                   cancel=active.cancel.event)
    except requests.RequestException as e:
        raise DownloadError(f'could not get the image ids ({state}): {type(e).__name__}: {e}') from None
    if response.status_code != 200:
        raise DownloadError(f'could not get the image ids ({state}): HTTP {response.status_code}: '
                            f'{response.text[:300]}')
    try:
        ids = response.json()['image_ids']
    except (ValueError, KeyError, TypeError):
        raise DownloadError(f'GET data?state={state}: the answer has no image_ids list') from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise DownloadError(f'GET data?state={state}: image_ids is not a list of strings')
    return ids


def fetch_metadata(active: ActiveTraining, image_ids: Sequence[str]) -> list[dict[str, Any]]:
    """`GET P/images?ids=…` in chunks of 100, one after the other; a failing chunk is logged and skipped."""
    records: list[dict[str, Any]] = []
    chunks = [image_ids[i:i + METADATA_CHUNK] for i in range(0, len(image_ids), METADATA_CHUNK)]
    for n, chunk in enumerate(chunks):
        active.cancel.check()
        try:
            response = active.http.get(active.project_path('/images'), params={'ids': ','.join(chunk)},
                                       timeout=DATA_TIMEOUT, cancel=active.cancel.event)
        except requests.RequestException as e:
            log.warning('image metadata chunk %d of %d failed: %s; skipping %d images', n + 1, len(chunks), e,
                        len(chunk))
            continue
        if response.status_code != 200:
            log.warning('image metadata chunk %d of %d: HTTP %d; skipping %d images', n + 1, len(chunks),
                        response.status_code, len(chunk))
            continue
        try:
            images = response.json()['images']
        except (ValueError, KeyError, TypeError):
            log.warning('image metadata chunk %d of %d has no images list; skipped', n + 1, len(chunks))
            continue
        records.extend(i for i in images if isinstance(i, dict) and isinstance(i.get('id'), str))
        active.progress = 0.5 * (n + 1) / len(chunks)
    return records


def validation_fraction(image_id: str) -> float:
    """Where an image falls in [0, 1) for the validation split: `int(sha256(id)[:8], 16) / 16**8`."""
    return int(hashlib.sha256(image_id.encode()).hexdigest()[:8], 16) / 16 ** 8


def split_sets(records: list[dict[str, Any]], hyperparameters: dict[str, Any]) -> list[dict[str, Any]]:
    """The 0.27.0 validation rule (§6.1 step 6); raises CriticalError for a bad `compute_validation_set`."""
    if any(r.get('set') == 'val' for r in records):
        return records
    wanted = hyperparameters.get('compute_validation_set', False)
    if not isinstance(wanted, bool):
        raise CriticalError(f'hyperparameter compute_validation_set must be a bool, got {wanted!r}')
    if not wanted:
        return records
    train = [r for r in records if r.get('set') == 'train']
    if len(train) < 2:
        raise CriticalError(f'compute_validation_set needs at least 2 train images, got {len(train)}')
    moved = [r for r in train if validation_fraction(r['id']) < 0.1]
    if not moved:
        moved = [min(train, key=lambda r: validation_fraction(r['id']))]
    moved_ids = {r['id'] for r in moved}
    return [dict(r, set='val') if r['id'] in moved_ids else r for r in records]


def prepare(active: ActiveTraining) -> None:
    """The whole step: ids, metadata, files, validity, sets; fills `image_data` and `skipped_image_count`."""
    training = active.training
    active.progress = 0.0
    image_ids = fetch_image_ids(active, 'complete')
    records = fetch_metadata(active, image_ids)
    folder = training.images_path
    ids = [r['id'] for r in records]

    def on_files(fraction: float) -> None:
        active.progress = 0.5 + 0.5 * fraction
    download_images(active.http, active.project_path(), ids, folder, active.cancel, on_files)
    valid = [r for r in records if image_path(folder, r['id']).exists()]
    skipped = len(image_ids) - len(valid)
    if skipped:
        log.warning('%d of %d images are skipped (no metadata or no valid file)', skipped, len(image_ids))
    active.cancel.check()
    training.image_data = split_sets(valid, training.hyperparameters)
    training.skipped_image_count = skipped
    active.progress = 1.0
    log.info('training data: %d images (%d train, %d test, %d val), %d skipped', len(valid),
             len(training.train_images()), len(training.test_images()), len(training.images_in_set('val')), skipped)


__all__ = ['fetch_image_ids', 'fetch_metadata', 'prepare', 'split_sets', 'validation_fraction']
