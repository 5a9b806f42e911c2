"""Reading requests from the socket: the head within its deadline, bodies never past what the client sent.

`SocketReader` is a connection's only reader; bytes after the current request stay in its buffer for the next
one (pipelining). A `Content-Length` body reaches the application as a `LengthBody` stream that ends at the
declared length; a chunked body is decoded into a spool file (memory up to `spool_memory`, then disk) with the
body limit and the server's spool budget enforced chunk by chunk, and reaches the application with a
`Content-Length`.
"""
from __future__ import annotations

import io
import socket
import tempfile
import time
from pathlib import Path

from .budget import SpoolBudget
from .limits import HttpLimits
from .parse import MAX_CHUNK_LINE, HttpError, check_partial, parse_chunk_line, size_text

RECV_SIZE = 64 * 1024
MAX_TRAILERS = 32
SPOOL_RETRY_AFTER = 2  # seconds: Retry-After of a body refused because the spool budget is spent


class ClientGone(Exception):
    """The client closed the connection (or its side of it) before the request was complete."""


class SocketReader:
    """Buffered reads from a connected socket, each phase with its own timeout."""

    def __init__(self, sock: socket.socket, limits: HttpLimits) -> None:
        self.sock = sock
        self.limits = limits
        self.buffer = bytearray()

    def _recv(self, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        return self.sock.recv(RECV_SIZE)

    def read_head(self, idle_timeout: float) -> bytes | None:
        """The next request head without its final CRLFCRLF; None if the client closed or stayed idle first.

        The first byte may take `idle_timeout`; from then on the whole head must arrive within the header
        timeout. HttpError (400/408/414/431) as soon as the bytes so far cannot become an acceptable head.
        """
        if not self.buffer:
            try:
                chunk = self._recv(idle_timeout)
            except (socket.timeout, OSError):
                return None
            if not chunk:
                return None
            self.buffer += chunk
        deadline = time.monotonic() + self.limits.header_timeout
        scan = 0
        while True:
            end = self.buffer.find(b'\r\n\r\n', scan)
            if end >= 0:
                head = bytes(self.buffer[:end])
                del self.buffer[:end + 4]
                return head
            check_partial(self.buffer, self.limits)
            scan = max(0, len(self.buffer) - 3)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HttpError(408, 'request head not complete in time')
            try:
                chunk = self._recv(remaining)
            except socket.timeout:
                raise HttpError(408, 'request head not complete in time') from None
            if not chunk:
                raise HttpError(400, 'connection closed in the request head')
            self.buffer += chunk

    def read_some(self, n: int) -> bytes:
        """Up to n (> 0) body bytes: buffered ones first, else one recv. ClientGone at EOF."""
        if self.buffer:
            data = bytes(self.buffer[:n])
            del self.buffer[:n]
            return data
        data = self._recv_rest_kept(n)
        if not data:
            raise ClientGone()
        return data

    def _recv_rest_kept(self, n: int) -> bytes:
        data = self._recv(self.limits.body_timeout)
        if len(data) > n:  # keep the rest (the next request of a pipelining client)
            self.buffer += data[n:]
            data = data[:n]
        return data

    def read_exact(self, n: int) -> bytes:
        parts = []
        while n > 0:
            data = self.read_some(n)
            parts.append(data)
            n -= len(data)
        return b''.join(parts)

    def read_line(self, limit: int) -> bytes:
        """One CRLF-ended line (without the CRLF) of at most `limit` bytes; HttpError(400) otherwise."""
        scan = 0
        while True:
            end = self.buffer.find(b'\n', scan)
            if end >= 0:
                if end == 0 or self.buffer[end - 1] != 0x0D or end - 1 > limit:
                    raise HttpError(400, 'malformed line in the chunked body')
                line = bytes(self.buffer[:end - 1])
                del self.buffer[:end + 1]
                return line
            if len(self.buffer) > limit + 1:
                raise HttpError(400, 'line too long in the chunked body')
            scan = len(self.buffer)
            chunk = self._recv(self.limits.body_timeout)
            if not chunk:
                raise ClientGone()
            self.buffer += chunk


class LengthBody(io.RawIOBase):
    """`wsgi.input` of a Content-Length body: ends at the declared length, never reads into the next request.

    A client that disappears or stalls longer than the body timeout ends the stream early (`broken`); the
    application sees a short body (werkzeug answers 400) and the connection closes afterwards.
    """

    def __init__(self, reader: SocketReader, length: int) -> None:
        super().__init__()
        self._reader = reader
        self.remaining = length
        self.broken = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: 'bytearray | memoryview') -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if self.remaining <= 0 or self.broken:
            return b''
        if size is None or size < 0:
            size = self.remaining
        try:
            data = self._reader.read_some(min(size, self.remaining))
        except (ClientGone, OSError):
            self.broken = True
            return b''
        self.remaining -= len(data)
        return data

    def readall(self) -> bytes:
        parts = []
        while data := self.read(1 << 20):
            parts.append(data)
        return b''.join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        limit = self.remaining if size is None or size < 0 else min(size, self.remaining)
        parts = []
        while limit > 0:
            buffered = self._reader.buffer
            end = buffered.find(b'\n', 0, limit)
            if end >= 0:
                parts.append(self.read(end + 1))
                break
            data = self.read(limit)
            if not data:
                break
            end = data.find(b'\n')
            if end >= 0:  # one recv brought more than the line: the rest goes back to the buffer
                rest = data[end + 1:]
                self._reader.buffer[0:0] = rest
                self.remaining += len(rest)
                parts.append(data[:end + 1])
                break
            parts.append(data)
            limit -= len(data)
        return b''.join(parts)

    def drain(self, most: int) -> bool:
        """Discard what the application left unread if it is at most `most` bytes; True if the body is done."""
        if self.remaining > most:
            return False
        while self.remaining > 0 and not self.broken:
            self.read(self.remaining)
        return not self.broken


class Spool(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
    """A chunked body's spool file whose bytes are reserved in the server's budget until it is closed."""

    def __init__(self, budget: SpoolBudget | None, max_size: int, dir: Path | None) -> None:  # noqa: A002
        super().__init__(max_size=max_size, dir=dir)
        self._budget = budget
        self.reserved = 0

    def reserve(self, n: int) -> bool:
        """Reserve `n` more bytes in the budget (always granted without one); False if they do not fit."""
        if self._budget is None or self._budget.reserve(n):
            self.reserved += n
            return True
        return False

    def close(self) -> None:
        """Close the file and give its bytes back to the budget (once, whatever ended the request)."""
        try:
            super().close()
        finally:
            if self._budget is not None and self.reserved:
                self._budget.release(self.reserved)
            self.reserved = 0


def spool_chunked(reader: SocketReader, limits: HttpLimits, budget: SpoolBudget | None = None) -> tuple[Spool, int]:
    """Decode a chunked body into a spool file (rewound) and return it with its size; the caller closes it.

    HttpError 400 (malformed), 413 (a chunk would pass the body limit), 503 (it would pass the server's spool
    budget; both refused before the chunk is read), 431 (trailers); ClientGone if the client stops sending;
    socket.timeout if it stalls. On any error the spool is closed and its budget released.
    """
    spool = Spool(budget, limits.spool_memory, limits.spool_dir)
    try:
        total = 0
        while True:
            size = parse_chunk_line(reader.read_line(MAX_CHUNK_LINE))
            if size == 0:
                break
            if total + size > limits.max_body:
                raise HttpError(413, f'request body larger than {size_text(limits.max_body)}')
            if not spool.reserve(size):
                raise HttpError(503, 'too many request bodies in transfer; try again later',
                                (('Retry-After', str(SPOOL_RETRY_AFTER)),))
            left = size
            while left > 0:
                data = reader.read_some(min(left, 1 << 20))
                spool.write(data)
                left -= len(data)
            if reader.read_exact(2) != b'\r\n':
                raise HttpError(400, 'chunk data not followed by CRLF')
            total += size
        trailer_bytes = 0
        for _ in range(MAX_TRAILERS + 1):
            line = reader.read_line(limits.max_header_bytes)
            if not line:
                spool.seek(0)
                return spool, total
            trailer_bytes += len(line) + 2
            if trailer_bytes > limits.max_header_bytes or b':' not in line or line[:1] in (b' ', b'\t'):
                raise HttpError(431 if trailer_bytes > limits.max_header_bytes else 400, 'bad chunked trailer')
        raise HttpError(431, 'too many chunked trailer fields')
    except BaseException:
        spool.close()
        raise
