"""The HTTP_* settings (issue 19): defaults, ranges, errors naming the variable, and the limits they make."""
from __future__ import annotations

from pathlib import Path

import pytest

from loopnode.errors import ConfigError
from loopnode.service.httpd.limits import HttpLimits
from loopnode.settings import Settings


def settings(tmp_path: Path, **values: str) -> Settings:
    return Settings.from_env({'DATA_FOLDER': str(tmp_path), 'LOOP_ORGANIZATION': 'o', 'LOOP_PROJECT': 'p', **values})


def test_defaults_make_the_default_limits(tmp_path: Path) -> None:
    limits = HttpLimits.from_settings(settings(tmp_path), max_body=64 << 20, spool_dir=tmp_path / 'tmp')
    assert limits == HttpLimits(spool_dir=tmp_path / 'tmp')
    assert (limits.max_connections, limits.keepalive_timeout, limits.header_timeout, limits.body_timeout) == \
        (256, 5.0, 10.0, 30.0)
    assert (limits.max_request_line, limits.max_headers, limits.max_header_bytes, limits.backlog) == \
        (8192, 100, 16384, 1024)
    assert limits.spool_budget == 256 << 20


def test_values_reach_the_limits(tmp_path: Path) -> None:
    s = settings(tmp_path, HTTP_MAX_CONNECTIONS='20', HTTP_KEEPALIVE_TIMEOUT_SEC='1.5', HTTP_HEADER_TIMEOUT_SEC='3',
                 HTTP_BODY_TIMEOUT_SEC='4', HTTP_MAX_REQUEST_LINE='1000', HTTP_MAX_HEADERS='10',
                 HTTP_MAX_HEADER_BYTES='2000', HTTP_BACKLOG='2048', HTTP_SPOOL_BUDGET_MB='100')
    limits = HttpLimits.from_settings(s, max_body=1000, spool_dir=None)
    assert limits == HttpLimits(max_connections=20, keepalive_timeout=1.5, header_timeout=3.0, body_timeout=4.0,
                                max_request_line=1000, max_headers=10, max_header_bytes=2000, backlog=2048,
                                max_body=1000, spool_budget=100 << 20)


@pytest.mark.parametrize('name, value, expected', [
    ('HTTP_MAX_CONNECTIONS', '0', 'an integer in [1, 10000]'),
    ('HTTP_KEEPALIVE_TIMEOUT_SEC', '0', 'a number > 0'),
    ('HTTP_HEADER_TIMEOUT_SEC', 'soon', 'a number > 0'),
    ('HTTP_BODY_TIMEOUT_SEC', '-1', 'a number > 0'),
    ('HTTP_MAX_REQUEST_LINE', '100', 'an integer in [256, 1000000]'),
    ('HTTP_MAX_HEADERS', '1e3', 'an integer in [8, 10000]'),
    ('HTTP_MAX_HEADER_BYTES', '512', 'an integer in [1024, 1000000]'),
    ('HTTP_BACKLOG', '128', 'an integer in [1024, 65535]'),
    ('HTTP_SPOOL_BUDGET_MB', '32', 'an integer in [64, 1000000]'),
])
def test_bad_values_name_the_variable(tmp_path: Path, name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        settings(tmp_path, **{name: value})
    assert str(e.value).startswith(f'invalid setting {name}={value!r}: expected {expected}')
