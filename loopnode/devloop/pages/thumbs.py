"""Thumbnails of devloop's images, made once and kept on disk (`<data>/thumbs/`), so big grids stay fast.

A thumbnail's name carries the source file's mtime, so a replaced image gets a new one. Writes go to a
temporary name and are renamed into place; two requests racing for one thumbnail both succeed.
"""
from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Callable

from PIL import Image

log = logging.getLogger(__name__)

THUMB_WIDTH = 320
THUMB_QUALITY = 80


class ThumbnailCache:
    """`path(image_id)` → a JPEG at most `width` pixels wide, generated on first use from `source(image_id)`."""

    def __init__(self, source: Callable[[str], Path], folder: Path, width: int = THUMB_WIDTH) -> None:
        self._source = source
        self._folder = folder
        self._width = width

    def path(self, image_id: str) -> Path:
        """The cached thumbnail of an image (FileNotFoundError when the image file is gone)."""
        source = self._source(image_id)
        stamp = source.stat().st_mtime_ns
        target = self._folder / f'{image_id}-{stamp}-{self._width}.jpg'
        if not target.exists():
            self._make(source, target)
        return target

    def _make(self, source: Path, target: Path) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        tmp = self._folder / f'.{uuid.uuid4().hex}.part'
        try:
            with Image.open(source) as image:
                image.draft('RGB', (self._width, self._width))  # JPEG: decode at a reduced scale, much faster
                image = image.convert('RGB')
                image.thumbnail((self._width, self._width * 4))
                image.save(tmp, format='JPEG', quality=THUMB_QUALITY)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
