"""Process memory tuning for small hardware."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc mallopt parameter
LARGE_MESSAGE = 512 * 1024  # bytes of image data in one message that make it worth a trim afterwards
TRIM_QUIET_SECONDS = 0.25


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (as MALLOC_ARENA_MAX does); call before threads start. False if not glibc.

    With a thread per connection and per Socket.IO event, glibc gives many threads their own arena and keeps
    freed frame buffers (~1 MB each) in all of them: the resident size after a burst of raw frames grew to
    2.7x upstream's. Two arenas keep it close to the idle size at no measured latency cost.
    """
    name = ctypes.util.find_library('c')
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(M_ARENA_MAX, arenas))
    log.debug('malloc arenas limited to %d: %s', arenas, ok)
    return ok


def _libc_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library('c')
    if not name:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


class HeapTrimmer:
    """Gives freed heap pages back to the OS (glibc `malloc_trim`) once large messages stop for `quiet` s.

    glibc keeps the ~1 MB buffers of raw frames and batches in its arenas after they are freed (its mmap
    threshold rises to their size after the first free), so the resident size after a burst stayed at 2x
    upstream's. Trimming after each message would fault the pages in again for the next one; trimming once
    the burst is over costs nothing while frames stream and a few ms afterwards. `note(size)` is cheap and
    thread-safe; the `heap-trim` worker (`run(stop)`) does the trimming. Without glibc it does nothing.
    """

    def __init__(self, *, threshold: int = LARGE_MESSAGE, quiet: float = TRIM_QUIET_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 trim: Callable[[int], int] | None = None) -> None:
        self.threshold = threshold
        self.quiet = quiet
        self.trims = 0
        self._clock = clock
        self._trim = trim if trim is not None else _libc_malloc_trim()
        self._last_large: float | None = None
        self._lock = threading.Lock()

    def note(self, size: int) -> None:
        """A message of `size` bytes was handled (its buffers are freed soon after)."""
        if size >= self.threshold and self._trim is not None:
            with self._lock:
                self._last_large = self._clock()

    def due(self) -> bool:
        """True (and forgets the burst) once `quiet` seconds passed since the last large message."""
        with self._lock:
            if self._last_large is None or self._clock() - self._last_large < self.quiet:
                return False
            self._last_large = None
            return True

    def trim_now(self) -> None:
        if self._trim is None:
            return
        started = time.perf_counter()
        released = self._trim(0)
        self.trims += 1
        log.debug('malloc_trim: %s in %.1f ms', 'released memory' if released else 'nothing to release',
                  (time.perf_counter() - started) * 1000)

    def run(self, stop: threading.Event) -> None:
        """The worker's loop: check every quiet/2 seconds, trim when a burst of large messages is over."""
        while not stop.wait(self.quiet / 2):
            if self.due():
                self.trim_now()
