"""Issue 19 over real TCP against a detector: strict framing, no smuggling, chunked bodies, garbage, head limits.

Every refused request gets exactly one answer with a status line and `Connection: close`; the request hidden
in its body is never answered; `/detect` still works and the server's threads and memory return to baseline.
"""
from __future__ import annotations

import random
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from loopnode.detector import DetectorNode
from tests.service.http_raw import (Baseline, assert_back_to_baseline, assert_detects, chunked, detector, exchange,
                                    head_of, multipart_jpeg, read_to_close, statuses)

__all__ = ['detector']  # the module fixture

SMUGGLED = b'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'


def post(headers: str, body: bytes = SMUGGLED, version: str = 'HTTP/1.1') -> bytes:
    return f'POST /detect {version}\r\nHost: x\r\n{headers}\r\n'.encode('latin-1') + body


# the classic smuggling shapes: CL.CL, CL.TE, TE.CL, TE.TE with obfuscated Transfer-Encoding, bad lengths
SMUGGLING = {
    'CL.CL 0 then N': post(f'Content-Length: 0\r\nContent-Length: {len(SMUGGLED)}\r\n'),
    'CL.CL N then 0': post(f'Content-Length: {len(SMUGGLED)}\r\nContent-Length: 0\r\n'),
    'CL.CL equal twice': post(f'Content-Length: {len(SMUGGLED)}\r\nContent-Length: {len(SMUGGLED)}\r\n'),
    'CL negative': post('Content-Length: -5\r\n'),
    'CL plus sign': post('Content-Length: +5\r\n'),
    'CL hex': post('Content-Length: 0x5\r\n'),
    'CL list': post('Content-Length: 0, 5\r\n'),
    'CL space before colon': post('Content-Length : 0\r\n'),
    'CL.TE': post(f'Content-Length: {len(SMUGGLED) + 5}\r\nTransfer-Encoding: chunked\r\n', b'0\r\n\r\n' + SMUGGLED),
    'TE.CL': post('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', b'0\r\n\r\n' + SMUGGLED),
    'TE.TE xchunked': post('Transfer-Encoding: xchunked\r\n', b'0\r\n\r\n' + SMUGGLED),
    'TE.TE twice': post('Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', b'0\r\n\r\n' + SMUGGLED),
    'TE.TE list': post('Transfer-Encoding: chunked, identity\r\n', b'0\r\n\r\n' + SMUGGLED),
    'TE.TE identity first': post('Transfer-Encoding: identity, chunked\r\n', b'0\r\n\r\n' + SMUGGLED),
    'TE.TE space before colon': post('Transfer-Encoding : chunked\r\n', b'0\r\n\r\n' + SMUGGLED),
    'TE.TE vertical tab': post('Transfer-Encoding:\x0bchunked\r\n', b'0\r\n\r\n' + SMUGGLED),
    'TE.TE quoted': post('Transfer-Encoding: "chunked"\r\n', b'0\r\n\r\n' + SMUGGLED),
    'TE.TE obs-fold': post('X-Pad: a\r\n Transfer-Encoding: chunked\r\n', b'0\r\n\r\n' + SMUGGLED),
    'TE.TE bare LF': post('X-Pad: a\nTransfer-Encoding: chunked\r\n', b'0\r\n\r\n' + SMUGGLED),
    'TE in HTTP/1.0': post('Transfer-Encoding: chunked\r\n', b'0\r\n\r\n' + SMUGGLED, version='HTTP/1.0'),
}


@pytest.mark.parametrize('raw', list(SMUGGLING.values()), ids=list(SMUGGLING))
def test_smuggling_shapes_get_400_and_close(detector: DetectorNode, raw: bytes) -> None:
    """Issue 19 strict framing: 400 + close, the hidden request is never answered."""
    base = Baseline()
    answer = exchange(detector.port, raw, half_close=False)
    assert statuses(answer) == [400], answer[:300]
    assert 'Connection: close' in head_of(answer)
    assert b'smuggled' not in answer
    assert_back_to_baseline(detector, base)


def crash_traffic() -> bytes:
    return (b'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' + b'f' * 40 + b'\r\nabc')


def test_chunk_size_of_40_hex_digits_then_close_500_times(detector: DetectorNode) -> None:
    """Issue 19 remote crash: the chunked-crash traffic 500 times (20 connections at once) gets 400s; node lives."""
    base = Baseline()
    with ThreadPoolExecutor(20, thread_name_prefix='crash-client') as pool:
        answers = list(pool.map(lambda _: exchange(detector.port, crash_traffic()), range(500)))
    assert all(statuses(a) == [400] for a in answers), {a[:40] for a in answers}
    assert_back_to_baseline(detector, base)


@pytest.mark.parametrize('body, status', [
    (b'64\r\n' + b'a' * 10, 400),                          # declared 100, sent 10, then the client closes
    (b'5\r\nabcdeXY0\r\n\r\n', 400),                       # chunk data not followed by CRLF
    (b'5 \r\nabcde\r\n0\r\n\r\n', 400),                    # whitespace in the size
    (b'-5\r\nabcde\r\n0\r\n\r\n', 400),
    (b'5\nabcde\r\n0\r\n\r\n', 400),                       # bare LF after the size
    (b'5000000\r\n' + b'a' * 1000, 413),                   # 80 MiB chunk: refused before its data is read
])
def test_bad_chunked_bodies_are_refused_without_reading_past_them(detector: DetectorNode, body: bytes,
                                                                  status: int) -> None:
    """Issue 19 chunked bodies: malformed or short → 400, over the limit → 413; each with close."""
    base = Baseline()
    raw = b'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' + body
    answer = exchange(detector.port, raw)
    assert statuses(answer) == [status] and 'Connection: close' in head_of(answer), answer[:200]
    assert_back_to_baseline(detector, base)


def test_a_chunked_detect_is_parsed_and_the_connection_kept(detector: DetectorNode) -> None:
    """Issue 19 chunked bodies parsed correctly: a chunked multipart `/detect`, then a second request."""
    body, content_type = multipart_jpeg()
    raw = (f'POST /detect HTTP/1.1\r\nHost: x\r\nautoupload: disabled\r\nContent-Type: {content_type}\r\n'
           'Transfer-Encoding: chunked\r\n\r\n').encode() + chunked(body, 777)
    raw += b'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    answer = exchange(detector.port, raw, half_close=False)
    assert statuses(answer) == [200, 200] and b'box_detections' in answer


def test_content_length_over_the_limit_is_refused_from_the_header(detector: DetectorNode) -> None:
    """Issue 19: 413 + close for a 70 MB Content-Length before any body byte was sent."""
    with socket.create_connection(('127.0.0.1', detector.port), timeout=10) as sock:
        sock.sendall(b'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 70000000\r\n\r\n')
        answer = read_to_close(sock)  # no body sent: the answer and the close come anyway
    assert statuses(answer) == [413] and 'Connection: close' in head_of(answer)
    assert_detects(detector)


GARBAGE = {
    'random bytes': random.Random(19).randbytes(4096),
    'TLS client hello': bytes.fromhex('16030100a5010000a10303') + bytes(64),
    'HTTP/0.9': b'GET /healthz\r\n\r\n',
    'no version': b'GET /healthz \r\n\r\n',
    'HTTP/2 preface': b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'lowercase version': b'GET / http/1.1\r\nHost: x\r\n\r\n',
    'control char in target': b'GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n',
    'header without colon': b'GET / HTTP/1.1\r\nHost x\r\n\r\n',
    'NUL in header value': b'GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n',
}


@pytest.mark.parametrize('raw', list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_gets_a_status_line(detector: DetectorNode, raw: bytes) -> None:
    """Issue 19: garbage gets a 400 (505 for HTTP/2.0) with a status line, never an HTTP/0.9 body."""
    answer = exchange(detector.port, raw)
    assert answer.startswith(b'HTTP/1.1 400 ') or answer.startswith(b'HTTP/1.1 505 '), answer[:100]
    assert len(statuses(answer)) == 1 and 'Connection: close' in head_of(answer)
    assert_detects(detector)


@pytest.mark.parametrize('fresh', [True, False], ids=['fresh connection', 'reused connection'])
@pytest.mark.parametrize('what, head, status', [
    ('request line of 10 KiB', 'GET /' + 'a' * 10240 + ' HTTP/1.1\r\nHost: x\r\n', 414),
    ('header of 64 KiB', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'b' * 65536 + '\r\n', 431),
    ('1,000 headers', 'GET /healthz HTTP/1.1\r\nHost: x\r\n' + ''.join(f'X-H{i}: v\r\n' for i in range(1000)), 431),
])
def test_head_limits_answer_414_431_with_close(detector: DetectorNode, fresh: bool, what: str, head: str,
                                               status: int) -> None:
    """Issue 19 limits: request line → 414, header size/count → 431, with `Connection: close`."""
    base = Baseline()
    first = b'' if fresh else b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
    answer = exchange(detector.port, first + (head + '\r\n').encode() + SMUGGLED, half_close=False)
    codes = statuses(answer)
    assert codes == ([status] if fresh else [200, status]), (what, answer[:200])
    last = answer[answer.rfind(b'HTTP/1.1 '):]
    assert 'Connection: close' in head_of(last)
    assert_back_to_baseline(detector, base)
