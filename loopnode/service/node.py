"""NodeService: the process shell every node type uses (loop-protocol.md §10).

It owns the settings, the node identity, the Flask app with its Socket.IO server, the HTTP server thread,
the worker threads, the Loop HTTP client, the metrics registry, sd_notify and the subprocesses (`executors`).
Node types add routes, Socket.IO handlers and workers, and override the hooks `readiness_reason`,
`status_record`, `status_extra` and `on_loop_socket`. `run()` blocks until SIGTERM/SIGINT or
`request_exit(code)` and returns the exit code.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from flask import Flask
from prometheus_client import CollectorRegistry, Counter

from ..exits import EXIT_FAILURE, EXIT_OK, EXIT_RESTART
from ..fsutil import empty_folder
from ..loop.http import LoopHttp
from ..settings import Settings
from .datalock import DataFolderBusy, DataFolderLock
from .executor import ExecutorRegistry
from .httpd.limits import HttpLimits
from .identity import node_uuid
from .notify import SystemdNotifier
from .routes import head_token_check, register_common_routes
from .server import HttpServer
from .sockets import create_socketio
from .workers import Worker

log = logging.getLogger(__name__)

class NodeService:
    """Process shell: HTTP + Socket.IO server, workers, ordered shutdown, health, metrics, sd_notify."""

    node_type = 'node'

    def __init__(self, settings: Settings, *, name: str | None = None, uuid: str | None = None) -> None:
        self.settings = settings
        self.name = settings.node_name or name or f'loopnode {self.node_type}'
        self.settings.data_folder.mkdir(parents=True, exist_ok=True)
        self.uuid = uuid or node_uuid(settings.data_folder, self.name)
        self.started_at = time.monotonic()
        # every subprocess of the node: killed on stop, before an os._exit, and after a kill -9 on the next start
        self.executors = ExecutorRegistry(settings.environ, settings.data_folder / 'executor_pids' / self.uuid)
        self.data_lock = DataFolderLock(settings.data_folder)
        self.shutdown_requested = threading.Event()  # set by signals and request_exit; ends Loop waits
        self.exit_code = EXIT_OK
        self.stopping = False
        self.loop_muted = settings.skip_repeat_on_start
        self.registry = CollectorRegistry(auto_describe=True)
        self._loop_requests = Counter('loopnode_loop_requests_total', 'HTTP requests to the Loop by status',
                                      ['status'], registry=self.registry)
        self.loop_http = LoopHttp(settings, self.shutdown_requested,
                                  on_status=lambda status: self._loop_requests.labels(status).inc())
        self.notifier = SystemdNotifier(settings.notify_socket, settings.watchdog_usec)
        self.app = Flask(f'loopnode.{self.node_type}')
        self.app.config['MAX_CONTENT_LENGTH'] = 64 * 1024 * 1024
        self.socketio = create_socketio(self.app)
        register_common_routes(self)
        self._workers: list[Worker] = []
        self._server: HttpServer | None = None
        self._started = False
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()

    # ---- hooks for node types ---------------------------------------------------------------------------

    def readiness_reason(self) -> str | None:
        """None when ready to serve; otherwise why not (e.g. "no model"). `/readyz` answers 503 with it."""
        return None

    def readiness_extra(self) -> dict[str, Any]:
        """Extra keys of the 200 `/readyz` body (the detector adds `model_version`)."""
        return {}

    def status_record(self) -> dict[str, Any]:
        """The status record as sent to the Loop (the `node` key of `GET /status`)."""
        return {'id': self.uuid, 'name': self.name, 'state': 'online', 'uptime': self.uptime()}

    def status_extra(self) -> dict[str, Any]:
        """Type-specific keys of `GET /status`."""
        return {}

    def loop_connected(self) -> bool | None:
        """Whether the Loop socket is connected; None for nodes without one (the detector)."""
        return None

    def loop_state(self) -> dict[str, Any]:
        """The `loop` key of `GET /status`: connected (None without a Loop socket), last ok, last error."""
        health = self.loop_http.health
        return {'connected': self.loop_connected(), 'last_ok': health.last_ok, 'last_error': health.last_error}

    def on_loop_socket(self, on: bool) -> None:
        """`PUT /socketio on|off`: the base mutes/unmutes the repeat cycle; socket nodes also (dis)connect."""

    def prepare(self) -> None:
        """Runs before the server starts (create folders, load state). The base empties `{DATA}/tmp`."""
        empty_folder(self.settings.tmp_folder)

    def before_server_shutdown(self) -> None:
        """Runs at shutdown before the HTTP server stops: disconnect every local Socket.IO client.

        engine.io's `disconnect()` joins each socket's send queue, which blocks forever for a polling client
        that has stopped polling; `close(wait=False)` sends the CLOSE packet and returns.
        """
        eio = self.socketio.server.eio
        for sid, socket in list(eio.sockets.items()):
            try:
                socket.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
            except Exception:  # noqa: BLE001 - shutting down regardless
                log.exception('could not disconnect Socket.IO client %s', sid)
        eio.sockets = {}

    # ---- lifecycle ----------------------------------------------------------------------------------------

    def uptime(self) -> int:
        return int(time.monotonic() - self.started_at)

    @property
    def url(self) -> str:
        """Base URL of the local server (after start)."""
        assert self._server is not None, 'node not started'
        return self._server.url

    @property
    def port(self) -> int:
        assert self._server is not None, 'node not started'
        return self._server.port

    def add_worker(self, worker: Worker) -> Worker:
        """Register a worker; it starts with the node (or at once if the node runs) and stops with it."""
        worker.on_restart = lambda: self.request_exit(EXIT_RESTART)
        self._workers.append(worker)
        if self._started and not self.stopping:
            worker.start()
        return worker

    def dead_threads(self) -> list[str]:
        """Names of supervised threads that died while the node was running."""
        dead = [w.name for w in self._workers if w.supervised and (w.crashed or w.dead)]
        if self._server is not None and self._started and not self.stopping and not self._server.is_alive():
            dead.append('http')
        return dead

    def healthy(self) -> bool:
        return not self.dead_threads()

    def request_exit(self, code: int) -> None:
        """Ask the process to end with `code` (handler threads never call sys.exit themselves)."""
        if code != EXIT_OK and self.exit_code == EXIT_OK:
            self.exit_code = code
        self.shutdown_requested.set()

    def start(self) -> None:
        """Prepare, start the HTTP server and the workers, then tell systemd READY=1. Non-blocking."""
        self.settings.log_warnings()
        self.data_lock.acquire()  # before anything touches the folder a live node may be using
        self.executors.kill_stale()
        self.prepare()
        limits = HttpLimits.from_settings(self.settings, max_body=self.app.config['MAX_CONTENT_LENGTH'],
                                          spool_dir=self.settings.tmp_folder)
        self._server = HttpServer(self.app, self.settings.node_host, self.settings.node_port, limits=limits,
                                  check_head=head_token_check(self.settings.node_api_token))
        self._server.start()
        self._started = True
        for worker in list(self._workers):
            worker.start()
        log.info('%s %r (%s) listening on %s', self.node_type, self.name, self.uuid, self._server.url)
        self.notifier.notify('READY=1')

    def stop(self) -> None:
        """Ordered shutdown (loop-protocol.md §10.3); idempotent, joins every thread."""
        with self._stop_lock:
            if self.stopping:
                self._stopped.wait()
                return
            self.stopping = True
        self.shutdown_requested.set()
        self.notifier.notify('STOPPING=1')
        log.info('stopping %s %r', self.node_type, self.name)
        grace = self.settings.shutdown_grace
        if self._server is not None:
            self.before_server_shutdown()
            self._server.shutdown(grace)
        for worker in self._workers:
            worker.stop()
        self.loop_http.abort_transfers()
        self.stop_workers()
        self.executors.stop_all(grace)  # what the node type did not stop itself (a stuck thread's)
        deadline = time.monotonic() + grace
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        for name in self.stragglers():
            log.error('thread %s did not stop within %.0f s', name, grace)
        self.loop_http.close()
        self.data_lock.release()
        self._stopped.set()
        log.info('%s %r stopped', self.node_type, self.name)

    def stragglers(self) -> list[str]:
        """Workers (and HTTP request threads) still running after `stop()` (e.g. stuck in a network call)."""
        http = self._server.stragglers() if self._server is not None and self.stopping else []
        return [w.name for w in self._workers if w.is_alive()] + http

    def stop_workers(self) -> None:
        """Hook between signalling the workers and joining them (e.g. stop a socket client, kill subprocesses)."""

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT or `request_exit`; then shut down in order and return the exit code."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            try:
                self.start()
            except DataFolderBusy as e:
                log.error('start-up failed: %s', e)
                self.exit_code = EXIT_FAILURE
                self.stop()
                return self.exit_code
            except Exception:
                log.exception('start-up failed')
                self.exit_code = EXIT_FAILURE
                self.stop()
                return self.exit_code
            interval = self.notifier.watchdog_interval or 1.0
            while not self.shutdown_requested.wait(interval):
                if not self.notifier.watchdog_interval:
                    continue
                if self.healthy():
                    self.notifier.notify('WATCHDOG=1')
                else:
                    log.error('not sending WATCHDOG=1: dead threads %s', self.dead_threads())
            self.stop()
            if self.stragglers():
                # a non-daemon thread would keep the process alive past the grace period: end it now;
                # everything durable is on disk already (the outbox keeps unsent items)
                log.error('exiting with %d while threads still run: %s', self.exit_code, self.stragglers())
                self.executors.kill_all()  # os._exit skips the atexit hooks that kill executors' process groups
                logging.shutdown()
                os._exit(self.exit_code)
            return self.exit_code
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.info('received %s', signal.Signals(signum).name)
        # Event.set() takes the event's lock, which the interrupted main thread may hold inside wait():
        # set it from a short thread instead of re-entering the lock from the handler
        threading.Thread(target=self.shutdown_requested.set, name='signal').start()
