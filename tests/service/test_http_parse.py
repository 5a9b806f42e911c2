"""service/httpd/parse.py: the pure request-head parser and its framing rules (issue 19)."""
from __future__ import annotations

import pytest

from loopnode.service.httpd.limits import HttpLimits
from loopnode.service.httpd.parse import HttpError, check_partial, error_response, parse_chunk_line, parse_head

LIMITS = HttpLimits(max_request_line=100, max_headers=5, max_header_bytes=200)


def head(*lines: str) -> bytes:
    return '\r\n'.join(lines).encode('latin-1')


def status_of(raw: bytes) -> int:
    with pytest.raises(HttpError) as info:
        parse_head(raw, LIMITS)
    return info.value.status


def test_a_plain_request() -> None:
    parsed = parse_head(head('POST /detect?x=1 HTTP/1.1', 'Host: a', 'Content-Length: 12', 'camera_id:  c1 '), LIMITS)
    assert (parsed.method, parsed.target, parsed.version) == ('POST', '/detect?x=1', 'HTTP/1.1')
    assert parsed.body == 'length' and parsed.length == 12 and parsed.keep_alive
    assert parsed.headers[-1] == ('camera_id', 'c1')


def test_keep_alive_expect_and_chunked() -> None:
    assert not parse_head(head('GET / HTTP/1.1', 'Connection: keep-alive, close'), LIMITS).keep_alive
    assert not parse_head(head('GET / HTTP/1.0'), LIMITS).keep_alive
    parsed = parse_head(head('PUT / HTTP/1.1', 'Transfer-Encoding: Chunked', 'Expect: 100-continue'), LIMITS)
    assert parsed.body == 'chunked' and parsed.expect_continue
    assert parse_head(head('GET / HTTP/1.1', 'Content-Length: 0'), LIMITS).body == 'none'
    assert parse_head(b'\r\n\r\nGET / HTTP/1.1', LIMITS).method == 'GET'  # leading empty lines are skipped


@pytest.mark.parametrize('lines', [
    ('POST / HTTP/1.1', 'Content-Length: 1', 'Content-Length: 1'),
    ('POST / HTTP/1.1', 'Content-Length: -1'),
    ('POST / HTTP/1.1', 'Content-Length: 1 2'),
    ('POST / HTTP/1.1', 'Content-Length: ' + '9' * 19),
    ('POST / HTTP/1.1', 'Content-Length: 1', 'Transfer-Encoding: chunked'),
    ('POST / HTTP/1.1', 'Transfer-Encoding: gzip, chunked'),
    ('POST / HTTP/1.1', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'),
    ('POST / HTTP/1.0', 'Transfer-Encoding: chunked'),
    ('GET / HTTP/1.1', 'Host : a'),
    ('GET / HTTP/1.1', 'Host: a', ' folded'),
    ('GET / HTTP/1.1', 'Ho\x01st: a'),
    ('GET / HTTP/1.1', 'Host: a\rb'),
    ('GET  / HTTP/1.1',),
    ('GET / HTTP/1.1 ',),
    ('G(T / HTTP/1.1',),
    ('GET nothing HTTP/1.1',),
])
def test_framing_violations_are_400(lines: tuple[str, ...]) -> None:
    assert status_of(head(*lines)) == 400


def test_versions_and_limits() -> None:
    assert status_of(head('GET / HTTP/2.0')) == 505
    assert status_of(head('GET /' + 'a' * 100 + ' HTTP/1.1')) == 414
    assert status_of(head('GET / HTTP/1.1', *[f'X{i}: v' for i in range(6)])) == 431
    assert status_of(head('GET / HTTP/1.1', 'X: ' + 'v' * 200)) == 431


@pytest.mark.parametrize('partial, status', [
    (b'\x16\x03\x01\x00', 400),                    # TLS: refused from the first bytes
    (b'GET /' + b'a' * 200, 414),                  # no line end yet, already too long
    (b'GET / HTTP/1.1\n', 400),                    # bare LF ends the request line
    (b'GET / HTTP/1.1\r\nX: ' + b'v' * 300, 431),  # header block too large before it ends
    (b'GET / HTTP/1.1\r\n' + b'X: v\r\n' * 10, 431),
])
def test_check_partial_refuses_early(partial: bytes, status: int) -> None:
    with pytest.raises(HttpError) as info:
        check_partial(partial, LIMITS)
    assert info.value.status == status


def test_check_partial_accepts_a_head_in_progress() -> None:
    check_partial(b'GE', LIMITS)
    check_partial(b'GET / HTTP/1.1\r\nHost: a\r\n', LIMITS)


def test_chunk_lines() -> None:
    assert parse_chunk_line(b'1a') == 26
    assert parse_chunk_line(b'FFFF;name=value') == 65535
    for bad in (b'', b'f' * 17, b'1a ', b' 1a', b'-1', b'0x1', b'1;\x00'):
        with pytest.raises(HttpError):
            parse_chunk_line(bad)


def test_error_response_has_a_status_line_length_and_close() -> None:
    answer = error_response(431, 'too big')
    assert answer.startswith(b'HTTP/1.1 431 Request Header Fields Too Large\r\n')
    assert b'Connection: close\r\n' in answer and answer.endswith(b'{"error": "too big", "detail": "too big"}')
