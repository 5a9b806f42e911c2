"""Base URL rules (loop-protocol.md §3.1) and the pure backoff arithmetic."""
from __future__ import annotations

import random

import pytest

from loopnode.backoff import Backoff, exponential_delay, parse_retry_after
from loopnode.loop.urls import loop_base_url, socketio_url


@pytest.mark.parametrize('host,base', [
    (None, 'https://learning-loop.ai'),
    ('preview.learning-loop.ai', 'https://preview.learning-loop.ai'),
    ('localhost:8000', 'http://localhost:8000'),
    ('https://loop.example.com', 'https://loop.example.com'),
    ('http://127.0.0.1:8000/', 'http://127.0.0.1:8000'),
    ('http://learning-loop.ai', 'http://learning-loop.ai'),
])
def test_base_url_table(host: str | None, base: str) -> None:
    assert loop_base_url(host) == base


@pytest.mark.parametrize('host', ['http://x/api', 'http://x?a=1', 'http://x#f', 'ftp://x', 'http://', 'x:notaport'])
def test_base_url_rejects(host: str) -> None:
    with pytest.raises(ValueError):
        loop_base_url(host)


def test_socketio_url() -> None:
    assert socketio_url('https://learning-loop.ai') == 'wss://learning-loop.ai'
    assert socketio_url('http://localhost:8000') == 'ws://localhost:8000'


def test_exponential_delay_caps() -> None:
    assert [exponential_delay(k, 5, 300) for k in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert exponential_delay(0, 5, 300) == 0


def test_retry_after_seconds_date_and_cap() -> None:
    assert parse_retry_after('3') == 3.0
    assert parse_retry_after('9999') == 300.0
    assert parse_retry_after('Thu, 01 Jan 1970 00:00:10 GMT', now=0.0) == 10.0
    assert parse_retry_after('soon') is None and parse_retry_after(None) is None


def test_backoff_jitter_stays_in_range_and_resets() -> None:
    b = Backoff(base=1.0, cap=4.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(5)]
    assert all(0 <= d <= c for d, c in zip(delays, [1, 2, 4, 4, 4]))
    b.reset()
    assert b.failures == 0
    assert Backoff(base=1.0, cap=4.0, jitter=False).next_delay() == 1.0
