"""Step `download_model`: the base model to continue from (trainer.md §6.2).

Without `base_model_uuid` (or with one that is not a uuid) the training starts from scratch. Otherwise the zip
in the logic's format is downloaded into the training folder, checked like a detector model zip (no absolute
paths, `..`, symlinks; size limits), extracted beside it and moved in; its `model.json` becomes
`base_model.json`. A missing `model.json`, an unsafe zip or a non-200 answer is a step error (retried).
"""
from __future__ import annotations

import logging
import os
import shutil
import uuid as uuidlib
import zipfile
from pathlib import Path

import requests

from ..fsutil import fsync_dir
from ..loop.http import DownloadError as HttpDownloadError
from ..loop.transfer import UnsafeZipError, check_entries, extract_entries
from .active import ActiveTraining
from .errors import DownloadError

log = logging.getLogger(__name__)

BASE_MODEL_JSON = 'base_model.json'


def is_uuid(value: str | None) -> bool:
    if not value:
        return False
    try:
        uuidlib.UUID(value)
        return True
    except ValueError:
        return False


def download_zip(active: ActiveTraining, model_uuid: str, model_format: str, folder: Path) -> Path:
    """Stream `GET P/models/{uuid}/{format}/file` into `folder`; raises DownloadError with the Loop's text."""
    try:
        return active.http.download(active.project_path(f'/models/{model_uuid}/{model_format}/file'), folder,
                                    cancel=active.cancel.event, prefix='.model-download')
    except HttpDownloadError as e:
        raise DownloadError(str(e)) from None
    except requests.RequestException as e:
        raise DownloadError(f'{type(e).__name__}: {e}') from None


def extract_zip(zip_path: Path, target: Path) -> None:
    """Extract a model zip safely into `target` (created; sub-folders kept) via a sibling staging folder."""
    staging = target.with_name(f'.{target.name}.partial-{os.getpid()}-{uuidlib.uuid4().hex[:8]}')
    try:
        with zipfile.ZipFile(zip_path) as archive:
            infos = archive.infolist()
            check_entries(infos)
            staging.mkdir(parents=True)
            extract_entries(archive, infos, '', staging)
        target.mkdir(parents=True, exist_ok=True)
        for entry in staging.iterdir():
            final = target / entry.name
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)
            os.replace(entry, final)
        fsync_dir(target)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DownloadError(f'the model download is not a readable zip: {e}') from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_base_model(active: ActiveTraining, model_format: str) -> None:
    """The whole step; a no-op when training from scratch."""
    training = active.training
    base = training.base_model_uuid
    if not base:
        log.info('no base model: training from scratch')
        return
    if not is_uuid(base):
        log.warning('base_model_uuid %r is not a uuid: training from scratch', base)
        return
    folder = training.training_path
    zip_path = download_zip(active, base, model_format, folder)
    try:
        active.cancel.check()
        with zipfile.ZipFile(zip_path) as archive:
            names = {i.filename.replace('\\', '/') for i in archive.infolist()}
        if 'model.json' not in names:
            raise DownloadError(f'the base model {base} has no model.json')
        extract_zip(zip_path, folder)
    except zipfile.BadZipFile as e:
        raise DownloadError(f'the base model download is not a zip: {e}') from None
    except UnsafeZipError as e:
        raise DownloadError(f'the base model zip is unsafe: {e}') from None
    finally:
        zip_path.unlink(missing_ok=True)
    os.replace(folder / 'model.json', folder / BASE_MODEL_JSON)
    fsync_dir(folder)
    log.info('base model %s (%s) is in %s', base, model_format, folder)
