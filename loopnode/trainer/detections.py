"""Step `upload_detections` (trainer.md §6.7): `detections_{k}.json` in batches of 100 with two cursors.

After each accepted batch the offset inside the file is stored (batch start + 100, or 0 after the batch that
reaches the file's end); after each file the index is advanced. A restart continues at the next batch, so no
batch the Loop accepted is posted twice.
"""
from __future__ import annotations

import logging

import requests

from .active import ActiveTraining

log = logging.getLogger(__name__)

UPLOAD_BATCH = 100
POST_TIMEOUT = (10.0, 120.0)


class DetectionUploadError(Exception):
    """The Loop refused a batch (message: `could not upload detections. HTTP <code>: <text>`)."""


def upload_detections(active: ActiveTraining, batch_size: int = UPLOAD_BATCH) -> int:
    """Post every remaining batch; returns how many Detections were posted now."""
    io = active.io
    files = io.detection_file_count()
    if files == 0:
        log.error('no detection files to upload')
        return 0
    posted = 0
    index, offset = io.load_detection_cursor()
    while index < files:
        items = io.load_detections(index)
        while offset < len(items):
            active.cancel.check()
            batch = items[offset:offset + batch_size]
            _post(active, batch)
            posted += len(batch)
            offset += batch_size
            if offset < len(items):
                io.save_detection_cursor(index, offset)
            active.cancel.check()  # after the cursor: a batch the Loop accepted is never posted again
        index, offset = index + 1, 0
        io.save_detection_cursor(index, offset)
    log.info('uploaded %d detections from %d files', posted, files)
    return posted


def _post(active: ActiveTraining, batch: list[dict]) -> None:
    try:
        response = active.http.post(active.project_path('/detections'), json=batch, timeout=POST_TIMEOUT,
                                    cancel=active.cancel.event)
    except requests.RequestException as e:
        raise DetectionUploadError(f'could not upload detections: {type(e).__name__}: {e}') from None
    if response.status_code != 200:
        raise DetectionUploadError(f'could not upload detections. HTTP {response.status_code}: '
                                   f'{response.text[:300]}')
