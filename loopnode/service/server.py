"""The node's HTTP server (issue 19): accept loop, bounded connections, graceful shutdown.

Each connection is served by its own named thread (`service/httpd/connection.py`) with strict parsing and
limits (`HttpLimits`); beyond `max_connections` open connections a new one is answered 503 and closed by the
closer thread, so threads and memory stay bounded. The accept loop accepts in batches from a listen queue of
`backlog` slots and sleeps in `select()` (no polling). Shutdown stops accepting, closes idle keep-alive
connections at once, waits for requests in flight, then closes the rest and joins every connection thread
within `join_timeout` (threads are non-daemon; one still stuck in the application is logged as a straggler).
Chunked bodies in transfer share one spool budget (`SpoolBudget`).
"""
from __future__ import annotations

import errno
import logging
import selectors
import socket
import threading
import time
from typing import Any, Callable

from .httpd.budget import SpoolBudget
from .httpd.closer import Closer
from .httpd.connection import Connection
from .httpd.limits import HttpLimits
from .httpd.parse import HttpError, RequestHead, error_response
from .httpd.pool import ThreadPool

log = logging.getLogger(__name__)

ACCEPT_BATCH = 64
FULL_LOG_INTERVAL = 10.0


class HttpServer:
    """Serves a WSGI app on host:port in a thread named `name`; `shutdown(grace)` drains and joins it.

    `check_head` sees the head of a request with a chunked body before the body is read and may refuse it
    with an `HttpError` (the node answers a missing `NODE_API_TOKEN` with 401 there, before spooling).
    """

    def __init__(self, app: Callable[..., Any], host: str, port: int, name: str = 'http',
                 limits: HttpLimits | None = None,
                 check_head: Callable[[RequestHead], HttpError | None] | None = None) -> None:
        self.app = app
        self.host = host
        self.name = name
        self.limits = limits or HttpLimits()
        self.check_head = check_head
        self.spool_budget = SpoolBudget(self.limits.spool_budget)
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        try:
            self._listener = socket.create_server((host, port), family=family, backlog=self.limits.backlog)
        except OSError as e:
            raise OSError(f'cannot listen on {host}:{port} ({e.strerror or e})') from None
        self._listener.setblocking(False)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self.stopping = False
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Condition()
        self._connections: set[Connection] = set()
        self._in_flight = 0
        self._full_logged = -FULL_LOG_INTERVAL
        self._pool = ThreadPool(f'{name}-conn', idle_timeout=self.limits.thread_idle)
        self._closer = Closer(f'{name}-closer', self.limits.linger)
        self._thread = threading.Thread(target=self._serve, name=name)

    # ---- what connections call ------------------------------------------------------------------------

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()

    def refuse(self, sock: socket.socket, answer: bytes) -> None:
        self._closer.refuse(sock, answer)

    # ---- state ----------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self.address[1])

    @property
    def url(self) -> str:
        host = '127.0.0.1' if self.host in ('0.0.0.0', '') else self.host
        host = '[::1]' if host == '::' else (f'[{host}]' if ':' in host else host)
        return f'http://{host}:{self.port}'

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    @property
    def spool_used(self) -> int:
        """Bytes of chunked bodies in transfer (reserved in the spool budget)."""
        return self.spool_budget.used

    @property
    def lingering(self) -> int:
        """Refused connections the closer still holds."""
        return self._closer.lingering

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stragglers(self) -> list[str]:
        """Connection threads still running (after `shutdown`: stuck in the application past the grace)."""
        return self._pool.alive()

    # ---- accept loop ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._closer.start()
        self._thread.start()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._listener:
                        self._accept_batch()
        except Exception:  # noqa: BLE001 - reported; /healthz shows the dead thread
            log.exception('http server crashed')
        finally:
            selector.close()

    def _accept_batch(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, client = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.error('http: cannot accept (%s); retrying in 0.1 s', e.strerror)
                    self._stop.wait(0.1)
                return  # ECONNABORTED and friends: the client gave up
            try:
                if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b'':
                    sock.close()  # connected and closed already (port scans, health probes): no thread needed
                    continue
            except BlockingIOError:
                pass  # the usual case: the request is still on its way
            except OSError:
                sock.close()
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            self._start_connection(sock, client)

    def _start_connection(self, sock: socket.socket, client: Any) -> None:
        with self._lock:
            full = len(self._connections) >= self.limits.max_connections
            if not full:
                connection = Connection(sock, client, self.app, self.limits, self)
                self._connections.add(connection)
        if full:
            now = time.monotonic()
            if now - self._full_logged > FULL_LOG_INTERVAL:  # one line per interval, not one per connection
                self._full_logged = now
                log.warning('http: %d connections open (HTTP_MAX_CONNECTIONS); answering 503',
                            self.limits.max_connections)
            self._closer.refuse(sock, error_response(503, 'too many connections; try again later'))
            return
        self._pool.submit(lambda: self._run_connection(connection))

    def _run_connection(self, connection: Connection) -> None:
        try:
            connection.serve()
        finally:
            with self._lock:
                self._connections.discard(connection)
                self._lock.notify_all()

    # ---- shutdown -------------------------------------------------------------------------------------

    def _close_idle(self, everything: bool) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with connection.lock:
                if connection.busy and not everything:
                    continue
                connection.closing = True
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._in_flight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def shutdown(self, grace: float = 10.0) -> bool:
        """Stop accepting, let requests in flight finish within `grace`, close connections, join. True if drained."""
        self.stopping = True
        self._stop.set()
        try:
            self._wake_w.send(b'x')
        except OSError:
            pass
        if self._thread.is_alive():
            self._thread.join()
        self._listener.close()
        self._close_idle(everything=False)
        drained = self.wait_idle(grace)
        if not drained:
            log.warning('%d request(s) still running after %.1f s; closing their connections', self.in_flight, grace)
        self._close_idle(everything=True)
        self._pool.stop(timeout=self.limits.join_timeout)
        stragglers = self._pool.alive()
        if stragglers:
            log.error('http: %d connection thread(s) still running %.1f s after their connections were closed: %s',
                      len(stragglers), self.limits.join_timeout, ', '.join(stragglers))
        self._closer.stop()
        self._wake_r.close()
        self._wake_w.close()
        return drained
