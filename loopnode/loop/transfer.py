"""Model transfer and folder layout: streamed download, safe extraction (detector.md §6, §7.4), current_model.

The zip is checked completely before anything is written: no absolute paths, drive letters, `..` components
or symlinks, at most 10 000 entries and 20 GiB uncompressed. Sub-folders are kept; a single top folder that
holds `model.json` becomes the model root. Extraction goes to `models/<version>.partial/`, is fsynced and then
renamed to `models/<version>/`, so a crash never leaves a half-written version folder behind.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
import threading
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

import requests

from ..fsutil import fsync_dir
from .http import DownloadError, LoopHttp

log = logging.getLogger(__name__)

MAX_ENTRIES = 10_000
MAX_UNCOMPRESSED_BYTES = 20 * 1024 ** 3
COPY_CHUNK = 1024 * 1024
MODEL_JSON = 'model.json'
PARTIAL_SUFFIX = '.partial'
CURRENT_MODEL = 'current_model'
DOWNLOAD_PREFIX = 'download'
_DRIVE = re.compile(r'^[A-Za-z]:')
_VERSION = re.compile(r'[0-9]+(\.[0-9]+)*')  # as detector.versions.VERSION_PATTERN


class UnsafeZipError(ValueError):
    """The zip must not be extracted; the message names the first offending entry."""


class TransferError(Exception):
    """A failed model transfer; `kind` is 'transport' (retry, never skip) or 'artifact' (counts toward skipping)."""

    kind = 'transport'


class TransportError(TransferError):
    """Non-200, network error, interruption, or a body that is not a readable zip."""

    kind = 'transport'


class ArtifactError(TransferError):
    """The zip itself is bad: unsafe entries or no `model.json`."""

    kind = 'artifact'


def transport(cause: str) -> TransportError:
    return TransportError(cause)


def artifact(cause: str) -> ArtifactError:
    return ArtifactError(cause)


# ---- pure checks ----------------------------------------------------------------------------------------

def is_symlink_entry(info: zipfile.ZipInfo) -> bool:
    """True if the entry was stored as a symbolic link (Unix mode in the high bits of external_attr)."""
    return stat.S_ISLNK(info.external_attr >> 16)


def entry_problem(name: str) -> str | None:
    """Why an entry name is unsafe, or None: absolute, drive letter, `..` component, empty or NUL."""
    if not name or '\x00' in name:
        return 'empty or NUL in name'
    if name.startswith(('/', '\\')):
        return 'absolute path'
    if _DRIVE.match(name):
        return 'drive letter'
    if '..' in re.split(r'[\\/]', name):
        return '".." component'
    return None


def check_entries(infos: list[zipfile.ZipInfo], *, max_entries: int = MAX_ENTRIES,
                  max_bytes: int = MAX_UNCOMPRESSED_BYTES) -> None:
    """Raise UnsafeZipError unless every entry may be extracted (§7.4 entry checks)."""
    if len(infos) > max_entries:
        raise UnsafeZipError(f'unsafe zip: {len(infos)} entries (more than {max_entries})')
    total = 0
    for info in infos:
        problem = entry_problem(info.filename)
        if problem is not None:
            raise UnsafeZipError(f'unsafe zip entry {info.filename!r}: {problem}')
        if is_symlink_entry(info):
            raise UnsafeZipError(f'unsafe zip entry {info.filename!r}: symbolic link')
        total += info.file_size
        if total > max_bytes:
            raise UnsafeZipError(f'unsafe zip: more than {max_bytes} bytes uncompressed')


def model_root_prefix(names: list[str]) -> str | None:
    """'' if `model.json` is at the root; 'top/' if every entry sits under one folder holding it; else None."""
    normalized = [n.replace('\\', '/') for n in names]
    if MODEL_JSON in normalized:
        return ''
    tops = {n.split('/', 1)[0] for n in normalized if n}
    if len(tops) != 1 or not all('/' in n for n in normalized if n):
        return None
    top = tops.pop()
    return f'{top}/' if f'{top}/{MODEL_JSON}' in normalized else None


# ---- extraction ------------------------------------------------------------------------------------------

def extract_model(zip_path: Path, models_folder: Path, version: str) -> Path:
    """Extract a model zip into `models_folder/<version>/` via `<version>.partial/`; returns the folder.

    Raises TransportError when the file is not a readable zip, ArtifactError when it is unsafe or lacks
    `model.json`. Nothing is written outside the `.partial` folder, which is removed on failure.
    """
    partial = models_folder / f'{version}{PARTIAL_SUFFIX}'
    final = models_folder / version
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise transport(f'download is not a zip file: {e}') from None
    try:
        with archive:
            infos = archive.infolist()
            try:
                check_entries(infos)
            except UnsafeZipError as e:
                raise artifact(str(e)) from None
            prefix = model_root_prefix([i.filename for i in infos])
            if prefix is None:
                raise artifact('model.json not found')
            models_folder.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            extract_entries(archive, infos, prefix, partial, unsafe=artifact)
        _fsync_tree(partial)
        if final.exists():
            shutil.rmtree(final)
        os.rename(partial, final)
        fsync_dir(models_folder)
        return final
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, zlib.error, NotImplementedError) as e:
        raise transport(f'corrupt zip file: {e}') from None
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)


def extract_entries(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], prefix: str, root: Path, *,
                    unsafe: Callable[[str], Exception] = UnsafeZipError) -> list[Path]:
    """Write `infos` (checked by `check_entries`) below `root` without `prefix`, each file fsynced; the files written.

    Raises `unsafe(message)` for an entry that would land outside `root` (defence in depth).
    """
    resolved_root = root.resolve()
    written: list[Path] = []
    for info in infos:
        name = info.filename.replace('\\', '/')
        relative = name[len(prefix):]
        if not relative:
            continue
        target = root.joinpath(*PurePosixPath(relative).parts)
        if not target.resolve().is_relative_to(resolved_root):  # check_entries forbids it already
            raise unsafe(f'unsafe zip entry {info.filename!r}: outside the model folder')
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as source, open(target, 'wb') as sink:
            shutil.copyfileobj(source, sink, COPY_CHUNK)
            sink.flush()
            os.fsync(sink.fileno())
        written.append(target)
    return written


def _fsync_tree(root: Path) -> None:
    """fsync every folder below `root` (files were fsynced when written)."""
    for folder, _, _ in os.walk(root):
        fsync_dir(Path(folder))


# ---- download --------------------------------------------------------------------------------------------

def download_model(http: LoopHttp, model_uuid: str, model_format: str, tmp_folder: Path, *,
                   cancel: threading.Event | None = None) -> Path:
    """Stream `GET P/models/{uuid}/{format}/file` into `tmp_folder`; raises TransportError."""
    path = http.project_path(f'/models/{model_uuid}/{model_format}/file')
    try:
        return http.download(path, tmp_folder, cancel=cancel, prefix=DOWNLOAD_PREFIX)
    except DownloadError as e:
        raise transport(f'DownloadError: {e}') from None
    except requests.RequestException as e:
        raise transport(f'download failed: {type(e).__name__}: {e}') from None


def fetch_model(http: LoopHttp, model_uuid: str, version: str, model_format: str, data_folder: Path, *,
                cancel: threading.Event | None = None) -> Path:
    """Download and extract one model version into `data_folder/models/<version>/`; the zip is always deleted."""
    zip_path = download_model(http, model_uuid, model_format, data_folder / 'tmp', cancel=cancel)
    try:
        size = zip_path.stat().st_size
        folder = extract_model(zip_path, data_folder / 'models', version)
        log.info('model %s (%s, %d bytes) extracted to %s', version, model_format, size, folder)
        return folder
    finally:
        zip_path.unlink(missing_ok=True)


def remove_leftovers(data_folder: Path) -> None:
    """At start: delete `models/*.partial` and stale model downloads in `tmp/` (§1 start-up step 1)."""
    for partial in (data_folder / 'models').glob(f'*{PARTIAL_SUFFIX}'):
        shutil.rmtree(partial, ignore_errors=True)
    for stale in (data_folder / 'tmp').glob(f'{DOWNLOAD_PREFIX}-*'):
        stale.unlink(missing_ok=True)


# ---- model folder layout (§6) ----------------------------------------------------------------------------

def point_current_model(data_folder: Path, version: str) -> None:
    """Replace `current_model` atomically: relative symlink `current_model.tmp` → rename → fsync the folder."""
    tmp = data_folder / f'{CURRENT_MODEL}.tmp'
    tmp.unlink(missing_ok=True)
    os.symlink(f'models/{version}', tmp)
    os.replace(tmp, data_folder / CURRENT_MODEL)
    fsync_dir(data_folder)


def current_model_version(data_folder: Path) -> str | None:
    """Name of the folder `current_model` points to, or None without a link."""
    link = data_folder / CURRENT_MODEL
    if not link.is_symlink() and not link.is_dir():
        return None
    return link.resolve().name


def local_versions(models_folder: Path) -> list[str]:
    """Version folders in `models/` (names matching the version pattern), sorted numerically."""
    if not models_folder.is_dir():
        return []
    names = [p.name for p in models_folder.iterdir() if p.is_dir() and not p.is_symlink()]
    return sorted((n for n in names if _VERSION.fullmatch(n)), key=lambda n: tuple(int(x) for x in n.split('.')))


def is_reusable_model(folder: Path, model_format: str) -> bool:
    """§7.3 fetch: reuse a folder whose `model.json` names `model_format` or none (folders are keyed by version)."""
    if not (folder / MODEL_JSON).is_file():
        return False
    try:
        cached = json.loads((folder / MODEL_JSON).read_text(encoding='utf-8')).get('format')
    except (OSError, ValueError, AttributeError):
        return True  # unreadable: the strict parse after the fetch step reports it as an artifact failure
    if isinstance(cached, str) and cached != model_format:
        log.info('models/%s holds format %s, not %s: downloading it again', folder.name, cached, model_format)
        return False
    return True
