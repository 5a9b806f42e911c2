"""The image cache shared by trainer and annotator: `{DATA}/{org}/{project}/images/{image_id}.jpg`.

Layout and validation follow loop-protocol.md §9.2 and trainer.md §6.1: a file is downloaded from
`GET P/images/{id}/main` as `{id}.jpg.part`, renamed to `{id}.jpg`, then validated (non-empty, and
`jpeginfo -c` says OK when that program is installed, else Pillow opens and verifies it); an invalid file is
deleted. The path helpers are pure; `fetch_image` is the I/O shell around them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .http import DEFAULT_TIMEOUT, LoopHttp

JPEGINFO_TIMEOUT = 30.0


class ImageFetchError(OSError):
    """The image could not be downloaded, or what arrived is not a valid JPEG."""


def images_folder(data_folder: Path, organization: str, project: str) -> Path:
    """`{DATA}/{org}/{project}/images`; refuses ids that would leave the data folder."""
    for part in (organization, project):
        _check_name(part)
    return data_folder / organization / project / 'images'


def image_path(data_folder: Path, organization: str, project: str, image_id: str) -> Path:
    """`{DATA}/{org}/{project}/images/{image_id}.jpg`."""
    _check_name(image_id)
    return images_folder(data_folder, organization, project) / f'{image_id}.jpg'


def _check_name(part: str) -> None:
    if not part or part in ('.', '..') or '/' in part or '\\' in part or '\0' in part:
        raise ValueError(f'not a usable id for a file name: {part!r}')


def jpeg_problem(path: Path) -> str | None:
    """Why `path` is not a valid JPEG (empty, jpeginfo or Pillow complaint), or None when it is fine."""
    try:
        if path.stat().st_size == 0:
            return 'empty file'
    except OSError as e:
        return f'cannot read: {e}'
    jpeginfo = shutil.which('jpeginfo')
    if jpeginfo is not None:
        try:
            result = subprocess.run([jpeginfo, '-c', str(path)], capture_output=True, text=True,
                                    timeout=JPEGINFO_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f'jpeginfo failed: {e}'
        return None if 'OK' in result.stdout and result.returncode == 0 else f'jpeginfo: {result.stdout.strip()}'
    try:
        with Image.open(path) as image:
            if image.format != 'JPEG':
                return f'not a JPEG but {image.format}'
            image.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        return f'not a valid JPEG: {e}'
    return None


def fetch_image(http: LoopHttp, organization: str, project: str, image_id: str, target: Path) -> Path:
    """Download `GET P/images/{image_id}/main` to `target` (via `.part`), validate it; raises ImageFetchError."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + '.part')
    response = http.get(f'/{organization}/projects/{project}/images/{image_id}/main', timeout=DEFAULT_TIMEOUT)
    try:
        if response.status_code != 200:
            raise ImageFetchError(f'HTTP {response.status_code}: {response.text[:200]}')
        with open(part, 'wb') as f:
            f.write(response.content)
            f.flush()
            os.fsync(f.fileno())
    finally:
        response.close()
    os.replace(part, target)
    problem = jpeg_problem(target)
    if problem is not None:
        target.unlink(missing_ok=True)
        raise ImageFetchError(problem)
    return target
