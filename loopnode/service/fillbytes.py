"""A new `bytes` object filled in place before anyone sees it: a received message without a copy (fastws).

Python code can only fill a mutable buffer, and `bytes(bytearray)` copies it (engine.io copies anything that
is not `bytes` anyway). The C API has the way C code builds bytes of unknown content (CPython's own
`socket.recv` does it): `PyBytes_FromStringAndSize(NULL, n)` returns an uninitialised object that its creator
fills before handing it on. `new_bytes` does that through ctypes and returns the object with a writable view
of its storage; the caller fills it, releases the view and only then passes the object on. Where ctypes
cannot reach the C API (not CPython), `available()` is False and callers keep their copying path.
"""
from __future__ import annotations

import ctypes
import sys

_MIN = 1 << 16  # below this the copy is cheap; never the shared empty or one-byte objects either


def _c_api() -> tuple[object, object] | None:
    """Private prototypes of the two C functions (never the shared `ctypes.pythonapi` attributes)."""
    if sys.implementation.name != 'cpython':
        return None
    try:
        api = ctypes.pythonapi
        new = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_ssize_t)(
            ('PyBytes_FromStringAndSize', api))
        address = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object)(('PyBytes_AsString', api))
    except (AttributeError, OSError):
        return None
    return new, address


_API = _c_api()


def available(n: int) -> bool:
    """True if `new_bytes(n)` can be used for a message of n bytes."""
    return _API is not None and n >= _MIN


def new_bytes(n: int) -> tuple[bytes, memoryview]:
    """A new, uninitialised `bytes` of n (>= 64 KiB) bytes and a writable byte view of its storage.

    The view must be filled completely and released before the object is used, and must not outlive it.
    """
    if _API is None or n < _MIN:  # not an assert: it must hold under -O too
        raise ValueError(f'new_bytes({n}): check available(n) first')
    new, address = _API
    data: bytes = new(None, n)  # type: ignore[operator]
    storage = (ctypes.c_char * n).from_address(address(data))  # type: ignore[operator]
    return data, memoryview(storage).cast('B')
