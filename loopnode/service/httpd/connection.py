"""One client connection in its own thread: read a request, run the WSGI app, answer, maybe keep it alive.

The connection stays open for another request only when that is safe: HTTP/1.1 without `Connection: close`,
the answer's length is known (Content-Length, or chunked by us), and the request body was consumed (a small
unread rest is discarded, a large one closes the connection). The answer's head is sent together with the
first body part (one segment for small answers; TCP_NODELAY is set on accept).
"""
from __future__ import annotations

import logging
import socket
import threading
from email.utils import formatdate
from typing import IO, Any, Callable, Iterable, Protocol

from .body import ClientGone, LengthBody, SocketReader, spool_chunked
from .budget import SpoolBudget
from .environ import SERVER_SOFTWARE, build_environ
from .limits import HttpLimits
from .parse import REASONS, HttpError, RequestHead, error_response, parse_head, size_text

log = logging.getLogger(__name__)

ONE_SEGMENT = 64 * 1024  # head and body are joined into one send() below this size
NO_BODY_STATUS = frozenset({204, 304})


class ConnectionHost(Protocol):
    """What a connection needs from its server."""

    stopping: bool
    address: tuple[str, int]
    spool_budget: SpoolBudget
    check_head: Callable[[RequestHead], HttpError | None] | None  # before a chunked body is spooled (a 401)

    def request_started(self) -> None: ...

    def request_finished(self) -> None: ...

    def refuse(self, sock: socket.socket, answer: bytes) -> None: ...


class Connection:
    """Serves the requests of one accepted socket until it closes, fails, times out or the server stops."""

    def __init__(self, sock: socket.socket, client: tuple[str, int], app: Callable[..., Any],
                 limits: HttpLimits, host: 'ConnectionHost') -> None:
        self.sock = sock
        self.client = (str(client[0]), int(client[1])) if isinstance(client, tuple) else ('<local>', 0)
        self.app = app
        self.limits = limits
        self.host = host
        self.lock = threading.Lock()
        self.busy = False      # a request is being served (shutdown waits for it)
        self.closing = False   # shutdown closed it while idle
        self._handed_off = False
        self._unread = False   # the last request's body was not read: linger before closing

    def serve(self) -> None:
        """The thread's body: requests until the connection ends; the socket is closed (or handed off) after."""
        reader = SocketReader(self.sock, self.limits)
        idle_timeout = self.limits.header_timeout
        try:
            while not self.host.stopping:
                try:
                    head = reader.read_head(idle_timeout)
                except HttpError as e:
                    self.refuse(e)
                    return
                if head is None:
                    return
                with self.lock:
                    if self.closing:
                        return
                    self.busy = True
                try:
                    if not self._request(reader, head):
                        return
                finally:
                    with self.lock:
                        self.busy = False
                idle_timeout = self.limits.keepalive_timeout
        except OSError as e:  # reset, broken pipe, timeout while sending: the client is gone
            log.debug('http connection from %s ended: %s', self.client[0], e)
        except Exception:  # noqa: BLE001 - a handler thread must end quietly, never take the server down
            log.exception('http connection from %s failed', self.client[0])
        finally:
            if self._unread and not self._handed_off:
                self._handed_off = True
                self.host.refuse(self.sock, b'')  # the client may still be sending: let it read our answer
            if not self._handed_off:
                try:
                    self.sock.close()
                except OSError:
                    pass

    def refuse(self, error: HttpError) -> None:
        log.debug('http: refused %s: %s', self.client[0], error)
        self._handed_off = True
        self.host.refuse(self.sock, error_response(error.status, error.message, headers=error.headers))

    def _request(self, reader: SocketReader, raw_head: bytes) -> bool:
        """Serve one request; True if the connection may carry another one. In flight from its head on."""
        self.host.request_started()  # shutdown's grace also covers a chunked body still arriving
        try:
            return self._serve_request(reader, raw_head)
        finally:
            self.host.request_finished()

    def _serve_request(self, reader: SocketReader, raw_head: bytes) -> bool:
        try:
            head = parse_head(raw_head, self.limits)
            if head.body == 'length' and head.length > self.limits.max_body:
                raise HttpError(413, f'request body larger than {size_text(self.limits.max_body)}')
            if head.body == 'chunked' and self.host.check_head is not None:
                refused = self.host.check_head(head)  # e.g. a missing token: answered before any body is read
                if refused is not None:
                    raise refused
            if head.expect_continue and head.body != 'none':
                self.sock.sendall(b'HTTP/1.1 100 Continue\r\n\r\n')
            spool: IO[bytes] | None = None
            if head.body == 'chunked':
                try:
                    spool, length = spool_chunked(reader, self.limits, self.host.spool_budget)
                except ClientGone:
                    raise HttpError(400, 'connection closed in the chunked body') from None
                except socket.timeout:
                    raise HttpError(408, 'chunked body not complete in time') from None
        except HttpError as e:
            self.refuse(e)
            return False
        body: IO[bytes] = spool if spool is not None else LengthBody(reader, head.length)  # type: ignore[assignment]
        try:  # the spool (and its share of the budget) is released however the request ends
            environ = build_environ(head, body, length if spool is not None else head.length, sock=self.sock,
                                    client=self.client, server=self.host.address)
            self.sock.settimeout(self.limits.body_timeout)
            keep = Response(self, head, body).run(environ)
            if isinstance(body, LengthBody) and body.remaining and not body.broken:
                self._unread = True
            return keep
        finally:
            if spool is not None:
                spool.close()


class Response:
    """The WSGI `start_response`/`write` side of one request."""

    def __init__(self, connection: Connection, head: RequestHead, body: IO[bytes]) -> None:
        self.connection = connection
        self.sock = connection.sock
        self.head = head
        self.body = body
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.head_sent = False
        self.chunked = False
        self.keep = False
        self.no_body = head.method == 'HEAD'  # HEAD, 1xx, 204, 304: any body the app gives is dropped

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError('start_response called twice without exc_info')
        self.status = status
        self.headers = headers
        return self.write

    def _body_done(self) -> bool:
        """The unread rest of the body is small enough to discard once the answer is sent (the app may still
        read it while its answer streams)."""
        if isinstance(self.body, LengthBody):
            return not self.body.broken and self.body.remaining <= self.connection.limits.drain_max
        return True

    def _head_bytes(self) -> bytes:
        assert self.status is not None, 'write() before start_response'
        code = int(self.status.split(None, 1)[0])
        names = {name.lower() for name, _ in self.headers}
        no_body = self.no_body = self.no_body or 100 <= code < 200 or code in NO_BODY_STATUS
        self.keep = self.head.keep_alive and not self.connection.host.stopping and self._body_done()
        lines = [f'HTTP/1.1 {self.status}']
        lines += [f'{name}: {value}' for name, value in self.headers]
        if 'date' not in names:
            lines.append(f'Date: {formatdate(usegmt=True)}')
        if 'server' not in names:
            lines.append(f'Server: {SERVER_SOFTWARE}')
        if 'content-length' not in names and not no_body:
            if self.head.version == 'HTTP/1.1':
                self.chunked = True
                lines.append('Transfer-Encoding: chunked')
            else:
                self.keep = False
        if not self.keep:
            lines.append('Connection: close')
        return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')

    def write(self, data: bytes) -> None:
        out = b''
        if not self.head_sent:
            out = self._head_bytes()
            self.head_sent = True
        if data and not self.no_body:
            if self.chunked:
                data = b'%x\r\n%s\r\n' % (len(data), data)
            if len(out) + len(data) <= ONE_SEGMENT:
                out += data
            else:
                if out:
                    self.sock.sendall(out)
                out = data
        if out:
            self.sock.sendall(out)

    def run(self, environ: dict[str, Any]) -> bool:
        """Run the app and answer; True if the connection may carry another request."""
        try:
            result: Iterable[bytes] = self.connection.app(environ, self.start_response)
            try:
                for data in result:
                    if data:
                        self.write(data)
                if not self.head_sent:
                    self.write(b'')
                if self.chunked:
                    self.sock.sendall(b'0\r\n\r\n')
            finally:
                close = getattr(result, 'close', None)
                if close is not None:
                    close()
        except (ConnectionError, socket.timeout, OSError):
            return False  # the client went away, stalled, or the WebSocket driver ended the connection
        except Exception:  # noqa: BLE001 - the app's own error handler did not answer: a plain 500
            log.exception('http: error in %s %s', self.head.method, self.head.target)
            if not self.head_sent:
                try:
                    self.sock.sendall(error_response(500, REASONS[500]))
                except OSError:
                    pass
            return False
        if isinstance(self.body, LengthBody):
            if self.keep:
                self.body.drain(self.connection.limits.drain_max)
            if self.body.broken or self.body.remaining:
                return False
        return self.keep
