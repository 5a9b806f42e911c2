"""Test helpers: waiting on conditions with a deadline instead of sleeping, and free loopback ports."""
from __future__ import annotations

import random
import socket
import time
from pathlib import Path
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
    """A TCP port on 127.0.0.1 that was free a moment ago, for a server bound later (e.g. a subprocess's NODE_PORT).

    Picked below the kernel's ephemeral range: a port from bind(0) could be handed to another process's
    bind(0) or outgoing connection before our server binds it (EADDRINUSE on a busy machine); below the range
    only an explicit bind can take it.
    """
    low = _ephemeral_low()
    pick = random.SystemRandom()
    for _ in range(100):
        port = pick.randrange(max(1024, low - 10000), low)
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # everything below the range taken: fall back to the kernel's choice
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux; 32768 elsewhere, below every other OS's range)."""
    try:
        return int(Path('/proc/sys/net/ipv4/ip_local_port_range').read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768
