"""The node's HTTP server: werkzeug's threaded WSGI server in a named thread, with a graceful shutdown.

The request handler keeps header names that contain `_` (werkzeug drops them, but `camera_id` and
`creation_date` are part of the detector API, detector.md §2.6) and tracks connections, so shutdown can
wait for requests in flight and then close idle keep-alive connections: no handler thread outlives it.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from .keepalive import KeepAliveMixin

log = logging.getLogger(__name__)


class NodeRequestHandler(KeepAliveMixin, WSGIRequestHandler):
    """Werkzeug handler with safe keep-alive that keeps underscore headers, logs at DEBUG and reports to its server."""

    server: 'TrackingServer'

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        for key, value in self.headers.items():
            if '_' in key:  # the underscore spelling wins over the hyphen one (detector.md §2.2 precedence)
                environ['HTTP_' + key.upper().replace('-', '_')] = value.replace('\r\n', '')
        return environ

    def setup(self) -> None:
        super().setup()
        self.server.connection_opened(self)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:  # the client or our shutdown closed the connection: nothing left to flush
            pass
        finally:
            self.server.connection_closed(self)

    def run_wsgi(self) -> None:
        self.server.request_started()
        try:
            super().run_wsgi()
        finally:
            try:
                self.wfile.flush()  # the answer is buffered: it must be on the wire before shutdown may close
            except OSError:
                pass
            self.server.request_finished()

    def connection_dropped(self, error: BaseException, environ: dict[str, Any] | None = None) -> None:
        # engine.io ends a WebSocket by raising ConnectionError; without this werkzeug would read the client's
        # close frame as the next HTTP request and the client would wait 3 s for its close handshake
        self.close_connection = True

    def log_request(self, code: int | str = '-', size: int | str = '-') -> None:
        log.debug('%s %s %s', self.command, getattr(self, 'path', '?'), code)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        log.warning('http: ' + format, *args)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug('http: ' + format, *args)


class TrackingServer(ThreadedWSGIServer):
    """ThreadedWSGIServer that knows its open connections, their threads and the requests in flight."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._track_lock = threading.Condition()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._in_flight = 0
        super().__init__(*args, **kwargs)

    def connection_opened(self, handler: NodeRequestHandler) -> None:
        with self._track_lock:
            self._connections[handler.connection] = threading.current_thread()

    def connection_closed(self, handler: NodeRequestHandler) -> None:
        with self._track_lock:
            self._connections.pop(handler.connection, None)
            self._track_lock.notify_all()

    def request_started(self) -> None:
        with self._track_lock:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._track_lock:
            self._in_flight -= 1
            self._track_lock.notify_all()

    @property
    def in_flight(self) -> int:
        with self._track_lock:
            return self._in_flight

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._track_lock:
            while self._in_flight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._track_lock.wait(remaining)
            return True

    def close_connections(self, timeout: float) -> None:
        """Shut down every open connection (idle keep-alive ones included) and join their threads."""
        with self._track_lock:
            connections = dict(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for thread in connections.values():
            thread.join(max(0.0, deadline - time.monotonic()))


class HttpServer:
    """Serves a WSGI app on host:port in a thread named `name`; `shutdown(grace)` drains and joins it."""

    def __init__(self, app: Any, host: str, port: int, name: str = 'http') -> None:
        try:
            # what werkzeug's make_server(threaded=True) builds, with our tracking subclass
            self._server = TrackingServer(host, port, app, NodeRequestHandler)
        except SystemExit:  # werkzeug exits on bind errors; turn that into an exception we can report
            raise OSError(f'cannot listen on {host}:{port} (address in use or not available)') from None
        self.host = host
        self._thread = threading.Thread(target=self._serve, name=name)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = '127.0.0.1' if self.host in ('0.0.0.0', '') else self.host
        return f'http://{host}:{self.port}'

    @property
    def in_flight(self) -> int:
        return self._server.in_flight

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._server.serve_forever(poll_interval=0.2)
        except Exception:  # noqa: BLE001 - reported, the thread must not die silently
            log.exception('http server crashed')

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def shutdown(self, grace: float = 10.0) -> bool:
        """Stop accepting, let requests in flight finish within `grace`, close connections, join. True if drained."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        else:
            self._server.server_close()
        drained = self._server.wait_idle(grace)
        if not drained:
            log.warning('%d request(s) still running after %.1f s; closing their connections',
                        self._server.in_flight, grace)
        self._server.close_connections(timeout=2.0)
        return drained
