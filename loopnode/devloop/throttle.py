"""Slow response bodies for the fault option `bytes_per_second`: small chunks paced by interruptible waits.

`throttled(body, rate, stop)` re-cuts a WSGI body into chunks of about 1/20 s each and waits between them
with `stop.wait`, so a devloop that is stopping cuts the connection at once instead of finishing a long body.
"""
from __future__ import annotations

import threading
import time
from typing import Iterable, Iterator

CHUNKS_PER_SECOND = 20
MAX_CHUNK_BYTES = 64 * 1024


def chunk_size(bytes_per_second: float) -> int:
    """Bytes per chunk for a rate: about 1/20 s of data, at least 1 byte, at most 64 KiB."""
    return max(1, min(MAX_CHUNK_BYTES, int(bytes_per_second / CHUNKS_PER_SECOND)))


def throttled(body: Iterable[bytes], bytes_per_second: float, stop: threading.Event) -> Iterator[bytes]:
    """Yield `body` in small chunks so that byte n leaves no earlier than n / rate s after the first one.

    When `stop` is set during a wait the connection is dropped (ConnectionAbortedError, which werkzeug treats
    as a dropped connection); the wrapped body is always closed.
    """
    size = chunk_size(bytes_per_second)
    started = time.monotonic()
    sent = 0
    try:
        for data in body:
            view = memoryview(data)
            for offset in range(0, len(view), size):
                delay = started + sent / bytes_per_second - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    raise ConnectionAbortedError('devloop is stopping: throttled response cut short')
                chunk = bytes(view[offset:offset + size])
                sent += len(chunk)
                yield chunk
    finally:
        close = getattr(body, 'close', None)
        if close is not None:
            close()


__all__ = ['chunk_size', 'throttled']
