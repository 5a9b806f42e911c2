"""Test helpers: waiting on conditions with a deadline instead of sleeping, and free loopback ports."""
from __future__ import annotations

import socket
import time
from typing import Callable, TypeVar

T = TypeVar('T')


def until(cond: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, message: str = '') -> T:
    """Poll `cond` until it returns a truthy value and return it; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - retried until the deadline, then reported
            last_error = e
        if time.monotonic() > deadline:
            detail = f' (last error: {last_error!r})' if last_error else ''
            raise AssertionError(f'condition not met within {timeout} s: {message or cond}{detail}')
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])
