"""ISO 8601 parsing that behaves like Python 3.11's `datetime.fromisoformat` on 3.10 too (issue 10)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from loopnode.isotime import now_iso, parse_iso_datetime


@pytest.mark.parametrize(('text', 'expected'), [
    ('2025-06-01T10:00:00Z', datetime(2025, 6, 1, 10, tzinfo=timezone.utc)),
    ('2025-06-01T10:00:00.5Z', datetime(2025, 6, 1, 10, 0, 0, 500000, tzinfo=timezone.utc)),
    ('2025-06-01 10:00:00,25', datetime(2025, 6, 1, 10, 0, 0, 250000)),
    ('2025-06-01_10:00:00.123', datetime(2025, 6, 1, 10, 0, 0, 123000)),
    ('2025-06-01T10:00:00.1234567', datetime(2025, 6, 1, 10, 0, 0, 123456)),
    ('2025-06-01T10:00:00+0200', datetime(2025, 6, 1, 10, tzinfo=timezone(timedelta(hours=2)))),
    ('2025-06-01T10:00-05:30', datetime(2025, 6, 1, 10, tzinfo=timezone(-timedelta(hours=5, minutes=30)))),
    ('2025-06-01T10', datetime(2025, 6, 1, 10)),
    ('20250601T100000Z', datetime(2025, 6, 1, 10, tzinfo=timezone.utc)),
    ('2025-06-01', datetime(2025, 6, 1)),
])
def test_parses_what_python_3_11_parses(text: str, expected: datetime) -> None:
    """`Z`, `+0200`, `,25` and any fraction length fail in Python 3.10's fromisoformat; here they work."""
    assert parse_iso_datetime(text) == expected
    assert parse_iso_datetime(text).utcoffset() == expected.utcoffset()


@pytest.mark.parametrize('text', ['yesterday', '2025-13-01T00:00:00', '2025-06-01T25:00', '', '06/01/2025',
                                  '2025-06', '2025-0601', '2025-06-01T10:00:00Zjunk', '2025-06-01T'])
def test_rejects_what_is_no_iso_date_time(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso_datetime(text)


def test_agrees_with_fromisoformat_on_its_own_output() -> None:
    now = datetime(2025, 6, 1, 10, 11, 12, 131415, tzinfo=timezone(timedelta(hours=-3)))
    for spec in ('seconds', 'milliseconds', 'microseconds'):
        text = now.isoformat(timespec=spec)
        assert parse_iso_datetime(text) == datetime.fromisoformat(text)


def test_now_iso_is_utc_to_the_second_or_millisecond_and_can_look_ahead() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    stamp = now_iso()
    assert stamp.endswith('+00:00') and len(stamp) == len('2025-06-01T10:00:00+00:00')
    assert parse_iso_datetime(stamp) >= before
    assert len(now_iso('milliseconds')) == len('2025-06-01T10:00:00.000+00:00')
    assert parse_iso_datetime(now_iso(offset=3600)) >= before + timedelta(hours=1)
