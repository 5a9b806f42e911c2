"""HTTP/1.1 keep-alive and one-segment responses for werkzeug's request handler (used by server.py).

Werkzeug 3 sends `Connection: close` on every response because it cannot tell whether the application read
the whole request body (unread bytes would be parsed as the next request line). Every REST call then pays a
TCP connect and a new handler thread, and clients cannot keep connections alive. `KeepAliveMixin` keeps the
connection open exactly when that is safe:

* HTTP/1.1 request without `Connection: close`, and no chunked request body;
* the application has read the request body completely (bytes counted on `rfile`) before the response
  head is sent (a 413/401/503 sent without reading the upload still closes the connection).

It also disables Nagle's algorithm (head and body are separate writes; with Nagle and the client's delayed
ACK the body of a keep-alive response can wait ~40 ms) and buffers the head so that a small response leaves
in one segment. Werkzeug's post-response "drain the socket" loop would swallow the next request of a kept
connection, so reads past the body return b'' until the response is complete.

"""
from __future__ import annotations

import io
from typing import Any


class CountingReader(io.BufferedIOBase):
    """Wraps the handler's `rfile`: counts the bytes handed out; `eof` makes reads return b'' (no blocking)."""

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self._raw = raw
        self.count = 0
        self.eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self.eof:
            return b''
        data = self._raw.read(size)
        self.count += len(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        if self.eof:
            return b''
        data = self._raw.read1(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        if self.eof:
            return 0
        n = self._raw.readinto(buffer)
        self.count += n or 0
        return n

    def readline(self, size: int | None = -1) -> bytes:
        if self.eof:
            return b''
        data = self._raw.readline(size)
        self.count += len(data)
        return data

    def close(self) -> None:
        self._raw.close()
        super().close()


class KeepAliveMixin:
    """Mixin for a `werkzeug.serving.WSGIRequestHandler` subclass: safe keep-alive, TCP_NODELAY, buffered head."""

    disable_nagle_algorithm = True  # socketserver.StreamRequestHandler sets TCP_NODELAY in setup()
    wbufsize = 64 * 1024  # head + small body leave in one send(); werkzeug flushes after every write()

    rfile: Any
    headers: Any
    request_version: str
    close_connection: bool

    def setup(self) -> None:
        super().setup()  # type: ignore[misc]
        self.rfile = CountingReader(self.rfile)
        self._body_start = 0
        self._keep = False

    def run_wsgi(self) -> None:
        self.rfile.eof = False
        self._body_start = self.rfile.count
        self._keep = False
        try:
            super().run_wsgi()  # type: ignore[misc]
        except BaseException:
            self.close_connection = True
            raise
        finally:
            self.rfile.eof = False
        if not self._keep:
            self.close_connection = True

    def _body_complete(self) -> bool:
        if self.request_version != 'HTTP/1.1' or self.close_connection:
            return False
        if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
            return False
        length_text = self.headers.get('Content-Length')
        if length_text is None:
            return True
        try:
            length = int(length_text)
        except ValueError:
            return False
        return self.rfile.count - self._body_start >= length

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == 'connection' and value.lower() == 'close' and self._body_complete():
            self._keep = True
            self.rfile.eof = True  # werkzeug's drain after the response must not eat the next request
            return
        super().send_header(keyword, value)  # type: ignore[misc]
