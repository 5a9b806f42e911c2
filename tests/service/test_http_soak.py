"""Heavier variants of the issue 19 traffic (`make test-slow`): full-size bodies and many more connections."""
from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from loopnode.detector import DetectorNode
from tests.service.http_raw import MIB, Baseline, assert_back_to_baseline, detector, exchange, read_to_close, statuses

__all__ = ['detector']  # the module fixture
pytestmark = pytest.mark.slow

CRASH = b'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' + b'f' * 40 + b'\r\nabc'


def test_chunked_crash_traffic_5000_times_100_at_once(detector: DetectorNode) -> None:
    """Issue 19 remote crash, soak: 5,000 times with 100 connections at once; every answer 400, node alive."""
    base = Baseline()
    with ThreadPoolExecutor(100, thread_name_prefix='crash-client') as pool:
        answers = list(pool.map(lambda _: exchange(detector.port, CRASH), range(5000)))
    assert all(statuses(a) == [400] for a in answers)
    assert_back_to_baseline(detector, base)


def push_chunked(port: int, total: int) -> bytes:
    chunk = b'c' * MIB
    with socket.create_connection(('127.0.0.1', port), timeout=30) as sock:
        sock.sendall(b'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
        try:
            for _ in range(total // MIB):
                sock.sendall(b'%x\r\n%s\r\n' % (len(chunk), chunk))
        except OSError:
            pass
        return read_to_close(sock)


def test_eight_parallel_66_mib_chunked_uploads(detector: DetectorNode) -> None:
    """Issue 19 memory, full size: eight parallel 66 MiB chunked bodies → 413 each, RSS back to baseline."""
    base = Baseline()
    with ThreadPoolExecutor(8, thread_name_prefix='upload-client') as pool:
        answers = list(pool.map(lambda _: push_chunked(detector.port, 66 * MIB), range(8)))
    assert all(statuses(a) == [413] for a in answers), [a[:60] for a in answers]
    assert_back_to_baseline(detector, base, rss_margin=32 * MIB)
