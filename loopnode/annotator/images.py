"""The annotator's view of the shared image cache (annotator-converter.md §A3 step 3): one download per image."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import requests

from ..loop.http import LoopHttp
from ..loop.images import ImageFetchError, fetch_image, image_path

log = logging.getLogger(__name__)


class ImageCache:
    """Makes sure `{DATA}/{org}/{project}/images/{id}.jpg` exists and is valid; one lock per image."""

    def __init__(self, data_folder: Path, http: LoopHttp) -> None:
        self.data_folder = data_folder
        self.http = http
        self._guard = threading.Lock()
        self._locks: dict[Path, tuple[threading.Lock, int]] = {}
        self.downloads = 0

    def path(self, organization: str, project: str, image_uuid: str) -> Path:
        return image_path(self.data_folder, organization, project, image_uuid)

    def ensure(self, organization: str, project: str, image_uuid: str) -> Path:
        """The cached file, downloaded first if missing; raises ImageFetchError naming the image."""
        try:
            path = self.path(organization, project, image_uuid)
        except ValueError as e:
            raise ImageFetchError(f'could not download image {image_uuid}: {e}') from None
        lock = self._acquire(path)
        try:
            with lock:
                if path.is_file():
                    return path
                with self._guard:
                    self.downloads += 1
                try:
                    fetch_image(self.http, organization, project, image_uuid, path)
                except (ImageFetchError, requests.RequestException, OSError) as e:
                    raise ImageFetchError(f'could not download image {image_uuid}: {e}') from None
                log.debug('cached image %s', path)
                return path
        finally:
            self._release(path)

    def _acquire(self, path: Path) -> threading.Lock:
        with self._guard:
            lock, users = self._locks.get(path, (threading.Lock(), 0))
            self._locks[path] = (lock, users + 1)
            return lock

    def _release(self, path: Path) -> None:
        with self._guard:
            lock, users = self._locks[path]
            if users <= 1:
                del self._locks[path]
            else:
                self._locks[path] = (lock, users - 1)
