"""The source model on disk: the model folder and a safe unzip of the downloaded zip (§B2 steps 4.1–4.2).

Entries are checked like the detector's (detector.md §7.4: no absolute paths, drive letters, `..`, symlinks,
at most 10 000 entries and 20 GiB) before anything is written. Sub-folders are kept; when `model.json` sits
in a single top folder, that folder becomes the root. Unlike the detector, a zip without `model.json` is
accepted (the Loop normally adds one); a zip without any file is refused.
"""
from __future__ import annotations

import json
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Any

from ..loop.transfer import UnsafeZipError, check_entries, extract_entries, model_root_prefix


class SourceError(Exception):
    """The source zip cannot be used; the message names the cause."""


def prepare_model_folder(data_folder: Path, organization: str, project: str, model_id: str) -> Path:
    """`{DATA}/{org}/{project}/{model_id}/`, emptied and recreated (the ids are checked safe components)."""
    folder = data_folder / organization / project / model_id
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def extract_source(zip_path: Path, folder: Path) -> list[Path]:
    """Extract the zip into `folder` after checking every entry; returns the files written.

    Raises SourceError for a corrupt zip, an unsafe entry or a zip without files; nothing is written
    before the checks pass.
    """
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise SourceError(f'the source is not a zip file: {e}') from None
    try:
        with archive:
            infos = archive.infolist()
            try:
                check_entries(infos)
            except UnsafeZipError as e:
                raise SourceError(str(e)) from None
            files = [i for i in infos if not i.is_dir()]
            if not files:
                raise SourceError('the source zip holds no files')
            prefix = model_root_prefix([i.filename for i in infos]) or ''
            return extract_entries(archive, files, prefix, folder, unsafe=SourceError)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, zlib.error, NotImplementedError, OSError) as e:
        raise SourceError(f'corrupt source zip: {type(e).__name__}: {e}') from None


def read_model_json(folder: Path) -> tuple[Any, str | None]:
    """(parsed `folder/model.json` or None when absent or broken, a note when it is not JSON)."""
    path = folder / 'model.json'
    if not path.is_file():
        return None, None
    try:
        return json.loads(path.read_text(encoding='utf-8')), None
    except (ValueError, UnicodeDecodeError) as e:
        return None, f'model.json is not JSON ({e}); nothing copied from it'
