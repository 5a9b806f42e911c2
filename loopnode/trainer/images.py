"""Image downloads into the shared cache `{DATA}/{org}/{project}/images/` (trainer.md §6.1 steps 3–4).

A pool of 10 named threads fetches `GET P/images/{id}/main`; request starts are at least 20 ms apart. Each
file is written as `{id}.jpg.part`, renamed to `{id}.jpg` and validated (`jpeginfo -c` when installed,
Pillow's `verify()` otherwise); invalid files are deleted. Images already cached are not fetched again.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

import requests
from ..loop.http import LoopHttp
from ..loop.images import jpeg_problem
from .cancel import CancelToken

log = logging.getLogger(__name__)

POOL_SIZE = 10
REQUEST_SPACING = 0.02
LOG_EVERY_FRACTION = 0.1
LOG_EVERY_SECONDS = 5.0
IMAGE_TIMEOUT = (10.0, 60.0)


def image_path(images_folder: Path, image_id: str) -> Path:
    """Where an image of the cache lives (shared with the annotator)."""
    return images_folder / f'{image_id}.jpg'


def is_valid_image(path: Path) -> bool:
    """Non-empty, and `jpeginfo -c` says OK (when installed) or Pillow can open and verify it."""
    return jpeg_problem(path) is None


def missing_ids(images_folder: Path, image_ids: Sequence[str]) -> list[str]:
    """Ids without a cached file (one directory listing)."""
    present = {p.stem for p in images_folder.glob('*.jpg')} if images_folder.is_dir() else set()
    return [i for i in image_ids if i not in present]


class ProgressLog:
    """Logs `what: n of N (rate/s, ETA)` every 10 % or 5 s."""

    def __init__(self, what: str, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.total, self.clock = what, total, clock
        self.started = self.last_time = clock()
        self.last_fraction = 0.0

    def update(self, done: int) -> None:
        now = self.clock()
        fraction = done / self.total if self.total else 1.0
        if done != self.total and fraction - self.last_fraction < LOG_EVERY_FRACTION \
                and now - self.last_time < LOG_EVERY_SECONDS:
            return
        self.last_fraction, self.last_time = fraction, now
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else float('inf')
        log.info('%s: %d of %d (%.1f/s, ETA %.0f s)', self.what, done, self.total, rate, eta)


def download_images(http: LoopHttp, project_path: str, image_ids: Sequence[str], images_folder: Path,
                    cancel: CancelToken, on_progress: Callable[[float], None] = lambda f: None) -> int:
    """Fetch every id without a cached file; returns how many were written. Cancellable between files."""
    images_folder.mkdir(parents=True, exist_ok=True)
    todo = missing_ids(images_folder, image_ids)
    if not todo:
        on_progress(1.0)
        return 0
    jobs: queue.SimpleQueue[str] = queue.SimpleQueue()
    for image_id in todo:
        jobs.put(image_id)
    pacing = threading.Lock()
    next_start = [time.monotonic()]
    counters = {'done': 0, 'written': 0}
    counter_lock = threading.Lock()
    progress_log = ProgressLog(f'downloading images of {project_path}', len(todo))

    def worker() -> None:
        while not cancel.is_set():
            try:
                image_id = jobs.get_nowait()
            except queue.Empty:
                return
            with pacing:
                wait = next_start[0] - time.monotonic()
                next_start[0] = max(next_start[0], time.monotonic()) + REQUEST_SPACING
            if wait > 0 and cancel.wait(wait):
                return
            ok = _fetch_one(http, project_path, image_id, images_folder, cancel)
            with counter_lock:
                counters['done'] += 1
                counters['written'] += int(ok)
                done = counters['done']
            on_progress(done / len(todo))
            progress_log.update(done)

    threads = [threading.Thread(target=worker, name=f'download-{n}') for n in range(min(POOL_SIZE, len(todo)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cancel.check()
    return counters['written']


def _fetch_one(http: LoopHttp, project_path: str, image_id: str, folder: Path, cancel: CancelToken) -> bool:
    target = image_path(folder, image_id)
    part = target.with_name(f'{target.name}.part.{os.getpid()}.{threading.get_ident()}')
    try:
        response = http.get(f'{project_path}/images/{image_id}/main', timeout=IMAGE_TIMEOUT, cancel=cancel.event)
    except requests.RequestException as e:
        log.warning('image %s: download failed: %s', image_id, e)
        return False
    try:
        if response.status_code != 200:
            log.warning('image %s: HTTP %d, skipped', image_id, response.status_code)
            return False
        with open(part, 'wb') as f:
            f.write(response.content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, target)
    finally:
        response.close()
        part.unlink(missing_ok=True)
    if not is_valid_image(target):
        log.warning('image %s is not a valid JPEG; deleted', image_id)
        target.unlink(missing_ok=True)
        return False
    return True
