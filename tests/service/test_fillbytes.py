"""service/fillbytes.py: a new bytes object filled through its view, never a shared one."""
from __future__ import annotations

import sys

import pytest

from loopnode.service import fillbytes


@pytest.mark.skipif(sys.implementation.name != 'cpython', reason='the C API is reached through ctypes')
def test_new_bytes_are_distinct_objects_filled_through_their_view() -> None:
    assert fillbytes.available(1 << 16) and not fillbytes.available((1 << 16) - 1)
    first, view = fillbytes.new_bytes(1 << 16)
    view[:] = b'a' * (1 << 16)
    view.release()
    second, view = fillbytes.new_bytes(1 << 16)
    view[:4] = b'abcd'
    view[4:] = b'z' * ((1 << 16) - 4)
    view.release()
    assert type(first) is bytes and first == b'a' * (1 << 16)
    assert second[:5] == b'abcdz' and second is not first and len(second) == 1 << 16
    assert hash(first) == hash(b'a' * (1 << 16))  # hashed from the content it was filled with
