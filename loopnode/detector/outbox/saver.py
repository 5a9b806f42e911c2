"""The `outbox-save` side (detector.md §9.3): JPEG encoding and the bounded queue between requests and disk.

Request threads only enqueue; encoding (quality 90) and the fsynced write happen on the saver thread, so a
slow disk never slows inference. JPEG input is stored byte for byte.
"""
from __future__ import annotations

import io
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np

from ..images import is_jpeg

log = logging.getLogger(__name__)

SAVE_QUEUE_SIZE = 64
SAVE_TIMEOUT = 30.0  # an explicit upload waits this long for its save, then gives up (and nothing is stored)
JPEG_QUALITY = 90

ImageInput = Union[np.ndarray, bytes, bytearray, memoryview]


class OutboxRefused(Exception):
    """The disk guard refuses the item: str(e) = 'outbox refused: free disk space below N MB'."""


class UnencodableImage(Exception):
    """An array that cannot be stored as JPEG (dtype or channel count)."""


class OutboxBusy(Exception):
    """The save queue is full (or the saver does not run), so an explicit upload cannot be stored now."""


def check_encodable(image: np.ndarray) -> None:
    """Raise UnencodableImage unless `image` is uint8 H×W, H×W×1, H×W×3 or H×W×4."""
    if image.dtype != np.uint8:
        raise UnencodableImage(f'cannot store an image of dtype {image.dtype} as JPEG; send uint8')
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4)):
        if image.size == 0:
            raise UnencodableImage('cannot store an empty image as JPEG')
        return
    raise UnencodableImage(f'cannot store an image of shape {tuple(image.shape)} as JPEG; '
                           'send H×W, H×W×1, H×W×3 or H×W×4')


def encode_jpeg(image: ImageInput) -> bytes:
    """JPEG bytes for an array (quality 90) or encoded bytes (JPEG as is, anything else converted)."""
    from PIL import Image  # on first use: a detector that only stores JPEG originals never loads Pillow (~2.5 MiB)
    if isinstance(image, np.ndarray):
        check_encodable(image)
        array = image
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        elif array.ndim == 3 and array.shape[2] == 4:
            array = array[:, :, :3]
        picture = Image.fromarray(np.ascontiguousarray(array))
    else:
        data = bytes(image)
        if is_jpeg(data):
            return data
        with Image.open(io.BytesIO(data)) as opened:
            picture = opened.convert('RGB')
    out = io.BytesIO()
    picture.save(out, format='JPEG', quality=JPEG_QUALITY)
    return out.getvalue()


@dataclass
class SaveRequest:
    """One request's items on their way to disk, stored all together or not at all.

    `explicit` requests (uploads) wait on `done`; `gate` orders the saver's commit against the waiting
    thread giving up, so a timed-out upload is never stored later (it is `cancelled` before `committed`).
    """

    images: list[ImageInput]
    metadata_json: list[bytes]
    priority: bool
    explicit: bool = False
    done: threading.Event | None = None
    error: BaseException | None = None
    item_ids: list[str] = field(default_factory=list)
    gate: threading.Lock = field(default_factory=threading.Lock)
    cancelled: bool = False
    committed: bool = False


class SaveCancelled(Exception):
    """The waiting request gave up before the items were committed; they were discarded."""


class SaveQueue:
    """Bounded hand-over queue plus the saver loop; `store(request, jpegs)` writes one request to disk."""

    def __init__(self, store: Callable[[SaveRequest, list[bytes]], list[str]], *, on_busy: Callable[[], None],
                 on_unencodable: Callable[[], None], size: int = SAVE_QUEUE_SIZE,
                 put_timeout: float = 2.0, save_timeout: float = SAVE_TIMEOUT) -> None:
        self._store = store
        self._on_busy = on_busy
        self._on_unencodable = on_unencodable
        self._queue: queue.Queue[SaveRequest] = queue.Queue(size)
        self._put_timeout = put_timeout
        self.save_timeout = save_timeout
        self.running = threading.Event()

    def submit(self, request: SaveRequest, wait: bool) -> list[str]:
        """Hand over one request. wait=False never blocks (full → dropped, counted); wait=True returns the ids.

        A waiting request that times out is cancelled: OutboxBusy says nothing was stored, and the saver
        discards the items instead of storing them later (no duplicate on the client's retry).
        """
        if not wait:
            try:
                self._queue.put_nowait(request)
            except queue.Full:
                self._on_busy()
            return []
        if not self.running.wait(self._put_timeout):  # tolerate a request racing the thread's start
            raise OutboxBusy('outbox busy: the saver is not running; nothing was stored')
        request.done = threading.Event()
        try:
            self._queue.put(request, timeout=self._put_timeout)
        except queue.Full:
            raise OutboxBusy('outbox busy: save queue full; nothing was stored') from None
        if not request.done.wait(self.save_timeout):
            with request.gate:
                if not request.committed:
                    request.cancelled = True
                    raise OutboxBusy(f'outbox busy: the save did not finish within {self.save_timeout:g} s; '
                                     'nothing was stored')
            request.done.wait(self.save_timeout)  # committed and fsynced: only the index update is left
        if request.error is not None:
            raise request.error
        return list(request.item_ids)

    def pending(self) -> int:
        return self._queue.qsize()

    def run(self, stop: threading.Event) -> None:
        """Saver thread: encode and store until stopped, then store what is still queued."""
        self.running.set()
        try:
            while not stop.is_set():
                try:
                    request = self._queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                self._handle(request)
        finally:
            self.running.clear()
            self._drain()

    def _drain(self) -> None:
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                return
            self._handle(request)

    def _handle(self, request: SaveRequest) -> None:
        try:
            if request.cancelled:
                raise SaveCancelled()
            jpegs = [encode_jpeg(image) for image in request.images]
            request.images = []  # release the arrays early
            request.item_ids = self._store(request, jpegs)
        except UnencodableImage as e:
            request.error = e
            if request.done is None:
                self._on_unencodable()
                log.debug('outbox: %s', e)
        except SaveCancelled as e:
            request.error = e
            log.info('outbox: discarded %d image(s) of an upload that gave up waiting', len(request.metadata_json))
        except OutboxRefused as e:
            request.error = e
        except Exception as e:  # noqa: BLE001 - one bad item must not stop the saver
            request.error = e
            log.exception('outbox: could not save an item')
        finally:
            if request.done is not None:
                request.done.set()
