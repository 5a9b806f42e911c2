"""Pure HTTP/1.1 request parsing (RFC 9110/9112) with the framing rules of issue 19; no I/O.

Strict where leniency lets two parsers disagree about where a request ends (request smuggling): one
non-negative decimal `Content-Length`, `Transfer-Encoding` exactly `chunked` and never together with a
`Content-Length`, no obs-fold, no whitespace before the colon, CRLF line ends only. Any violation is an
`HttpError`; the connection answers it and closes, so nothing after a bad request is parsed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .limits import HttpLimits

REASONS = {100: 'Continue', 200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 408: 'Request Timeout',
           411: 'Length Required', 413: 'Content Too Large', 414: 'URI Too Long',
           431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 503: 'Service Unavailable',
           505: 'HTTP Version Not Supported'}

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN + rb'\Z')
_METHOD_PREFIX_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]*\Z")
_REQUEST_LINE_RE = re.compile(rb'(' + _TOKEN + rb') ([^\x00-\x20\x7f]+) HTTP/([0-9])\.([0-9])\Z')
_BAD_VALUE_RE = re.compile(rb'[\x00-\x08\x0a-\x1f\x7f]')
_DIGITS_RE = re.compile(rb'[0-9]{1,18}\Z')
_HEX_RE = re.compile(rb'[0-9A-Fa-f]{1,16}\Z')
MAX_CHUNK_LINE = 4096  # chunk size plus extensions
MAX_LEADING_EMPTY_LINES = 4  # RFC 9112 §2.2: ignore at least one empty line before a request line


class HttpError(Exception):
    """A request the server refuses: answered with `status` and the connection closed."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f'{status} {message}')
        self.status = status
        self.message = message
        self.headers = headers  # extra answer headers (Retry-After of a 503)


@dataclass(frozen=True)
class RequestHead:
    """A parsed request line and header block with its body framing."""

    method: str
    target: str
    version: str                      # 'HTTP/1.1' or 'HTTP/1.0'
    headers: list[tuple[str, str]]    # as sent (latin-1), in order
    body: str                         # 'none', 'length' or 'chunked'
    length: int                       # the Content-Length (0 unless body == 'length')
    keep_alive: bool                  # the client allows another request on this connection
    expect_continue: bool


def skip_empty_lines(buf: bytes | bytearray) -> int:
    """Offset of the request line: leading CRLFs (a few, RFC 9112 §2.2) are skipped."""
    offset = 0
    for _ in range(MAX_LEADING_EMPTY_LINES):
        if buf[offset:offset + 2] == b'\r\n':
            offset += 2
        else:
            break
    return offset


def check_partial(buf: bytes | bytearray, limits: HttpLimits) -> None:
    """Refuse a head still arriving as soon as it cannot become a request (garbage, too long)."""
    start = skip_empty_lines(buf)
    end = buf.find(b'\n', start)
    line = bytes(buf[start:end if end >= 0 else len(buf)])
    method = line.split(b' ', 1)[0]
    if not _METHOD_PREFIX_RE.match(method):
        raise HttpError(400, 'not an HTTP request')
    if end < 0:
        if len(line) > limits.max_request_line:
            raise HttpError(414, f'request line longer than {limits.max_request_line} bytes')
        return
    if len(line) - 1 > limits.max_request_line:
        raise HttpError(414, f'request line longer than {limits.max_request_line} bytes')
    if not line.endswith(b'\r'):
        raise HttpError(400, 'request line not ended by CRLF')
    parse_request_line(line[:-1])
    header_bytes = len(buf) - end - 1
    if header_bytes > limits.max_header_bytes + 4:
        raise HttpError(431, f'request header larger than {limits.max_header_bytes} bytes')
    if buf.count(b'\n', end + 1) > limits.max_headers + 1:
        raise HttpError(431, f'more than {limits.max_headers} header fields')


def parse_request_line(line: bytes) -> tuple[str, str, str]:
    """(method, target, version) of a request line without its CRLF."""
    match = _REQUEST_LINE_RE.match(line)
    if match is None:
        raise HttpError(400, 'malformed request line')
    method, target, major, minor = match.groups()
    if (major, minor) not in ((b'1', b'1'), (b'1', b'0')):
        raise HttpError(505, 'only HTTP/1.0 and HTTP/1.1 are served')
    if not (target.startswith(b'/') or target.startswith((b'http://', b'https://'))
            or (target == b'*' and method == b'OPTIONS') or method == b'CONNECT'):
        raise HttpError(400, 'malformed request target')
    try:
        urlsplit(target.decode('latin-1'))  # what build_environ does with it (e.g. an unclosed '[' fails)
    except ValueError:
        raise HttpError(400, 'malformed request target') from None
    return method.decode('ascii'), target.decode('latin-1'), f'HTTP/{major.decode()}.{minor.decode()}'


def parse_head(head: bytes, limits: HttpLimits) -> RequestHead:
    """Parse a complete head (everything before the empty line that ends it)."""
    lines = head[skip_empty_lines(head):].split(b'\r\n')
    request_line, header_lines = lines[0], lines[1:]
    if len(request_line) > limits.max_request_line:
        raise HttpError(414, f'request line longer than {limits.max_request_line} bytes')
    method, target, version = parse_request_line(request_line)
    if len(header_lines) > limits.max_headers:
        raise HttpError(431, f'more than {limits.max_headers} header fields')
    if sum(len(line) + 2 for line in header_lines) > limits.max_header_bytes:
        raise HttpError(431, f'request header larger than {limits.max_header_bytes} bytes')
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if line[:1] in (b' ', b'\t'):
            raise HttpError(400, 'obsolete line folding in the header')
        name, colon, value = line.partition(b':')
        if not colon or not _TOKEN_RE.match(name):
            raise HttpError(400, 'malformed header field')
        value = value.strip(b' \t')
        if _BAD_VALUE_RE.search(value):
            raise HttpError(400, 'control character in a header value')
        headers.append((name.decode('ascii'), value.decode('latin-1')))
    return _framed(method, target, version, headers)


def _framed(method: str, target: str, version: str, headers: list[tuple[str, str]]) -> RequestHead:
    lengths = [v for n, v in headers if n.lower() == 'content-length']
    encodings = [v for n, v in headers if n.lower() == 'transfer-encoding']
    body, length = 'none', 0
    if encodings:
        if version != 'HTTP/1.1':
            raise HttpError(400, 'Transfer-Encoding in an HTTP/1.0 request')
        if len(encodings) > 1 or encodings[0].lower() != 'chunked':
            raise HttpError(400, 'Transfer-Encoding other than exactly "chunked"')
        if lengths:
            raise HttpError(400, 'both Content-Length and Transfer-Encoding')
        body = 'chunked'
    elif lengths:
        if len(lengths) > 1:
            raise HttpError(400, 'more than one Content-Length')
        if not _DIGITS_RE.match(lengths[0].encode('latin-1')):
            raise HttpError(400, 'Content-Length is not a non-negative decimal number')
        length = int(lengths[0])
        body = 'length' if length else 'none'
    tokens = {t.strip().lower() for n, v in headers if n.lower() == 'connection' for t in v.split(',')}
    keep_alive = version == 'HTTP/1.1' and 'close' not in tokens
    expect = version == 'HTTP/1.1' and any(n.lower() == 'expect' and v.lower() == '100-continue'
                                           for n, v in headers)
    return RequestHead(method, target, version, headers, body, length, keep_alive, expect)


def parse_chunk_line(line: bytes) -> int:
    """The size of a chunk from its size line (without CRLF); extensions are checked and ignored."""
    size, _, extensions = line.partition(b';')
    if not _HEX_RE.match(size):
        raise HttpError(400, 'malformed chunk size')
    if _BAD_VALUE_RE.search(extensions):
        raise HttpError(400, 'control character in a chunk extension')
    return int(size, 16)


def size_text(n: int) -> str:
    """`64 MiB` for whole MiB, else `N bytes` (the 413 message of the node's routes)."""
    return f'{n >> 20} MiB' if n and n % (1 << 20) == 0 else f'{n} bytes'


def error_response(status: int, message: str, *, close: bool = True,
                   headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A complete JSON error answer (the node's `{"error", "detail"}` body), `Connection: close` by default."""
    body = json.dumps({'error': message, 'detail': message}).encode('utf-8')
    extra = ''.join(f'{name}: {value}\r\n' for name, value in headers)
    head = (f'HTTP/1.1 {status} {REASONS.get(status, "Error")}\r\nContent-Type: application/json\r\n'
            f'Content-Length: {len(body)}\r\n{extra}' + ('Connection: close\r\n' if close else '') + '\r\n')
    return head.encode('latin-1') + body
