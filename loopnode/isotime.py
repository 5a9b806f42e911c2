"""ISO 8601 date-times as Python 3.11's `datetime.fromisoformat` reads them, on Python 3.10 too.

Python 3.10 rejects a trailing `Z`, `+0200`, `,5` or fraction lengths other than 3 and 6; JetPack 6 ships 3.10,
and clients send `2025-06-01T10:00:00Z`. Accepted: `YYYY-MM-DD` or `YYYYMMDD`, optionally any one separator
character and `HH[:MM[:SS[.f…]]]` (colons optional), then optionally `Z` or `±HH[:MM[:SS[.f…]]]`.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_DATE = r'(?P<year>\d{4})(?P<dash>-?)(?P<month>\d{2})(?P=dash)(?P<day>\d{2})'
_TIME = r'(?P<hour>\d{2})(?::?(?P<minute>\d{2})(?::?(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?)?'
_ZONE = r'(?P<zone>Z|(?P<sign>[+-])(?P<zh>\d{2})(?::?(?P<zm>\d{2})(?::?(?P<zs>\d{2})(?:\.(?P<zf>\d{1,6}))?)?)?)'
_PATTERN = re.compile(f'{_DATE}(?:.{_TIME}{_ZONE}?)?', re.ASCII | re.DOTALL)


def _micros(digits: str | None) -> int:
    """Microseconds of a fraction's digits: padded or cut to six places."""
    return int((digits or '0')[:6].ljust(6, '0'))


def parse_iso_datetime(text: str) -> datetime:
    """The datetime `text` names (naive unless it has a zone); ValueError when it is no ISO 8601 date-time."""
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f'invalid ISO 8601 date-time: {text!r}')
    g = match.groupdict()
    zone: timezone | None = None
    if g['zone'] == 'Z':
        zone = timezone.utc
    elif g['zone']:
        offset = timedelta(hours=int(g['zh']), minutes=int(g['zm'] or 0), seconds=int(g['zs'] or 0),
                           microseconds=_micros(g['zf']) if g['zf'] else 0)
        zone = timezone(-offset if g['sign'] == '-' else offset)
    return datetime(int(g['year']), int(g['month']), int(g['day']), int(g['hour'] or 0), int(g['minute'] or 0),
                    int(g['second'] or 0), _micros(g['fraction']) if g['fraction'] else 0, tzinfo=zone)


def now_iso(timespec: str = 'seconds', *, offset: float = 0.0) -> str:
    """Now (plus `offset` seconds) in UTC as ISO 8601 with `+00:00`, to `timespec` ('seconds', 'milliseconds')."""
    return (datetime.now(timezone.utc) + timedelta(seconds=offset)).isoformat(timespec=timespec)
