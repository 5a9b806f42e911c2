"""LoopSocket: the Socket.IO link of trainer, annotator and converter to the Loop (loop-protocol.md §6).

    sock = LoopSocket(settings, http, node_type='annotation_node', stop=node.shutdown_requested)
    sock.on('user_logout', handler)            # before start(); return/raise → ack (§6.3, socket_acks.py)
    sock.on('handle_user_input', handler, dispatch=queue_it)   # dispatch: see below
    sock.start()                                # thread `loop-socket`: connect, reconnect with backoff
    ack = sock.call('update_annotation_node', status, timeout=10)   # raises LoopSocketError
    sock.connected; sock.state(); sock.pause(); sock.resume(); sock.stop()   # stop is immediate, joins

One thread owns the python-socketio `Client`. Each attempt probes `GET /api/status`, logs in (with
credentials), shuts the previous client down, then connects a **fresh** client (never two connections of one
node at once). Waits between attempts come from `ReconnectPolicy` (1 s doubling to 60 s, full jitter, reset
after a connection that held). `call` emits and waits for the ack; a timeout, or with `check=True` an ack that
is not `{"success": true, ...}`, marks the connection broken, so the thread reconnects.

Incoming events: python-engineio starts a thread per received message, so events could reach their handlers
out of order. Our engine.io client hands EVENT messages to Socket.IO on the thread that reads the connection;
there `dispatch(args, run)` is called and must only enqueue `run` (which calls the handler and sends the ack)
without blocking. The default dispatch runs `run` on a new named thread per event.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import NodeNeedsRestartError
from ..isotime import now_iso
from ..logs import RateLimitedLog
from ..settings import Settings
from .http import STATUS_TIMEOUT, LoopHttp
from .reconnect import BASE_DELAY, HOLD_SECONDS, MAX_DELAY, ReconnectPolicy
from .socket_acks import ack_for_error, ack_ok, failure, run_handler
from .socket_client import LoopClient, shut_down

log = logging.getLogger(__name__)

SOCKETIO_PATH = '/ws/socket.io'
CONNECT_WAIT = 5.0
REQUEST_TIMEOUT = 20
SHUTDOWN_WAIT = 5.0
FLUSH_WAIT = 2.0  # s for queued packets to go out before a client is shut down
STOP_STEP = 0.05  # s between checks of the stop event while an attempt is cut or the namespace awaited
NODE_TYPES = ('trainer', 'annotation_node', 'converter')

Handler = Callable[..., Any]
# called on the reading thread with the event's arguments and `run`; must enqueue `run` and return at once.
# Raising (e.g. ValueError for arguments it cannot route) sends a failure ack with the message instead.
Dispatch = Callable[[tuple[Any, ...], Callable[[], None]], None]


class LoopSocketError(Exception):
    """A call could not be made or was not acked as expected (not connected, timeout, bad ack, connection lost)."""


@dataclass
class _Route:
    handler: Handler
    dispatch: Dispatch | None


class LoopSocket:
    """One Socket.IO connection to the Loop at a time, kept up by the `loop-socket` thread (§6.1, §6.2)."""

    def __init__(self, settings: Settings, http: LoopHttp, *, node_type: str, stop: threading.Event,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
                 base_delay: float = BASE_DELAY, max_delay: float = MAX_DELAY, hold: float = HOLD_SECONDS,
                 connect_wait: float = CONNECT_WAIT, on_attempt: Callable[[], None] | None = None) -> None:
        if node_type not in NODE_TYPES:
            raise ValueError(f'node_type: expected one of {", ".join(NODE_TYPES)}, got {node_type!r}')
        self.settings = settings
        self.http = http
        self.node_type = node_type
        self.url = settings.loop_base_url
        self._outer_stop = stop
        self._clock = clock
        self._policy = ReconnectPolicy(base_delay, max_delay, hold, rng or random.Random())
        self._connect_wait = connect_wait
        self._on_attempt = on_attempt  # test/bench hook: called at the start of every attempt
        self.on_restart: Callable[[], None] | None = None  # a handler raised NodeNeedsRestartError
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()  # python-socketio's emit is not thread-safe
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._paused = False
        self._client: LoopClient | None = None
        self._connected = False
        self._broken = False
        self._next_attempt = 0.0
        self._since = now_iso()
        self.last_ok: str | None = None
        self.last_error: str | None = None
        self.attempts = 0
        self.connections = 0
        self._event_threads: set[threading.Thread] = set()
        self._closers: list[threading.Thread] = []
        self._attempting = False  # the connection thread is in _attempt (stop cuts its HTTP calls)
        self._thread = threading.Thread(target=self._run, name='loop-socket')
        self._rate_log = RateLimitedLog(log)

    # ---- setup and lifecycle ----------------------------------------------------------------------------

    def on(self, event: str, handler: Handler, *, dispatch: Dispatch | None = None) -> None:
        """Handle the Loop → node `event`; the handler's return value or exception becomes the ack (§6.3)."""
        self._routes[event] = _Route(handler, dispatch)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the client down and join the connection thread and the event threads, all within `timeout` s.

        An attempt in progress (status probe, login, Socket.IO handshake) is cut rather than waited for.
        """
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        if self._thread.ident is not None:
            while self._thread.is_alive() and (remaining := deadline - time.monotonic()) > 0:
                if self._attempting:  # repeated: a call still connecting has nothing to cut yet
                    self.http.in_flight.abort_session_of(self._thread)
                self._thread.join(min(remaining, STOP_STEP))
        else:
            self._close_client()
        with self._lock:
            threads = list(self._event_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def pause(self) -> None:
        """Disconnect and stay disconnected until `resume()` (`PUT /socketio off`)."""
        self._paused = True
        self._wake.set()

    def resume(self) -> None:
        """Connect again at once (`PUT /socketio on`)."""
        if self._paused:
            self._paused = False
            self._next_attempt = 0.0
            self._wake.set()

    def stragglers(self) -> list[str]:
        """Names of our threads still running (after `stop()`: stuck in a call that ignores the stop)."""
        with self._lock:
            threads = [self._thread, *self._event_threads, *self._closers]
        return [t.name for t in threads if t.is_alive()]

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def dead(self) -> bool:
        """The connection thread ended while it was still wanted."""
        return self._thread.ident is not None and not self._thread.is_alive() and not self._stopping.is_set()

    @property
    def connected(self) -> bool:
        return self._connected and not self._broken

    def state(self) -> dict[str, Any]:
        """For `GET /status` (`loop` key): connected, since when (connected or not), last ok, last error."""
        return {'connected': self.connected, 'since': self._since, 'last_ok': self.last_ok,
                'last_error': self.last_error, 'attempts': self.attempts, 'connections': self.connections}

    # ---- outgoing ----------------------------------------------------------------------------------------

    def call(self, event: str, *args: Any, timeout: float = 30.0, check: bool = True) -> Any:
        """Emit `event(*args)` and return the Loop's ack (§6.4).

        Raises LoopSocketError when not connected, when the connection ends first, on timeout (the connection
        is then marked broken) and, with `check`, for an ack that is not a dict with truthy `success` (broken).
        """
        client = self._client
        if client is None or not self.connected:
            raise LoopSocketError(f'{event}: not connected to the Loop')
        done = threading.Event()
        acks: list[Any] = []

        def on_ack(*ack: Any) -> None:
            acks.append(ack[0] if len(ack) == 1 else list(ack) if ack else None)
            done.set()
        try:
            with self._send_lock:
                client.emit(event, data=tuple(args), callback=on_ack)
        except Exception as e:  # noqa: BLE001 - python-socketio raises several kinds when the link is gone
            self._mark_broken(client, f'{event}: emit failed: {e}')
            raise LoopSocketError(f'{event}: emit failed: {e}') from e
        deadline = time.monotonic() + timeout
        while not done.wait(0.05):
            if self._stopping.is_set():
                raise LoopSocketError(f'{event}: stopping')
            if client is not self._client or not self._connected:
                raise LoopSocketError(f'{event}: connection lost before the ack')
            if time.monotonic() > deadline:
                self._mark_broken(client, f'{event}: no ack within {timeout:g} s')
                raise LoopSocketError(f'{event}: no ack within {timeout:g} s')
        ack = acks[0]
        if check and not ack_ok(ack):
            self._mark_broken(client, f'{event}: bad ack {ack!r}')
            raise LoopSocketError(f'{event}: bad ack {ack!r}')
        self.last_ok = now_iso()
        return ack

    def _mark_broken(self, client: LoopClient, reason: str) -> None:
        if client is self._client:
            log.warning('Loop socket broken: %s', reason)
            self.last_error = reason
            self._broken = True
            self._wake.set()

    # ---- incoming ----------------------------------------------------------------------------------------

    def _on_event(self, client: LoopClient, namespace: str | None, id: int | None, data: list[Any]) -> None:
        """On the reading thread: route the event to its dispatch (non-blocking)."""
        if not data or not isinstance(data[0], str):
            return
        event, args = data[0], tuple(data[1:])
        route = self._routes.get(event)

        def reply(ack: list[Any]) -> None:
            if id is None or client is not self._client or not client.connected:
                return
            with self._send_lock:
                client.send_ack(namespace, id, ack)
        if route is None:
            log.warning('no handler for Loop event %r', event)
            reply([failure(f'unknown event {event}')])
            return
        log.debug('Loop event %s', event)

        def run() -> None:
            try:
                reply(run_handler(event, route.handler, args))
            except NodeNeedsRestartError as e:
                log.error('%s: the node needs a restart: %s', event, e)
                reply(ack_for_error(e))
                if self.on_restart is not None:
                    self.on_restart()
        try:
            (route.dispatch or self._spawn(event))(args, run)
        except Exception as e:  # noqa: BLE001 - the dispatcher refused the arguments: fail the ack at once
            reply([failure(str(e) or type(e).__name__)])

    def _spawn(self, event: str) -> Dispatch:
        def dispatch(_args: tuple[Any, ...], run: Callable[[], None]) -> None:
            def target() -> None:
                try:
                    run()
                finally:
                    with self._lock:
                        self._event_threads.discard(threading.current_thread())
            thread = threading.Thread(target=target, name=f'loop-event-{event}')
            with self._lock:
                self._event_threads.add(thread)
            thread.start()
        return dispatch

    # ---- connection thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                if self._outer_stop.is_set():
                    # the node is shutting down: no new attempts, but a live connection stays until stop(),
                    # after the type workers (loop-protocol.md §10.3)
                    self._stopping.wait(0.5)
                    continue
                if self._paused:
                    if self._client is not None:
                        log.info('Loop socket off')
                        self._close_client()
                        self._set_connected(False)
                    self._wait(60.0)
                    continue
                if self._client is not None:
                    if self._connected and not self._broken and self._client.connected:
                        self._wait(1.0)
                        continue
                    self._lost()
                    continue
                delay = self._next_attempt - self._clock()
                if delay > 0 and self._wait(delay):
                    continue
                if self._attempt():
                    self._policy.connected(self._clock())
                else:
                    self._next_attempt = self._clock() + self._policy.attempt_failed()
        finally:
            self._close_client()
            self._set_connected(False)

    def _wait(self, seconds: float) -> bool:
        """Wait up to `seconds`; True if woken early (stop, pause, resume, a lost connection)."""
        self._wake.clear()
        deadline = time.monotonic() + seconds
        while not (self._stopping.is_set() or self._outer_stop.is_set()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._wake.wait(min(remaining, 1.0)):
                return True
        return True

    def _lost(self) -> None:
        reason = 'broken' if self._broken else 'disconnected'
        self._close_client()
        self._set_connected(False)
        delay = self._policy.lost(self._clock())
        self._next_attempt = self._clock() + delay
        log.warning('Loop socket %s; reconnecting in %.1f s', reason, delay)

    def _attempt(self) -> bool:
        """Probe, log in, connect a fresh client (§6.2 steps 2-5); False (with last_error) on failure."""
        self.attempts += 1
        if self._on_attempt is not None:
            self._on_attempt()
        client: LoopClient | None = None
        self._attempting = True
        try:
            response = self.http.get('/status', timeout=STATUS_TIMEOUT, retry_429=False)
            response.close()
            if response.status_code != 200:
                raise LoopSocketError(f'GET /api/status: HTTP {response.status_code}')
            if self.settings.has_credentials:
                self._check_stopping()
                self.http.login()
            self._check_stopping()
            client = LoopClient(self._on_event, reconnection=False, request_timeout=REQUEST_TIMEOUT,
                                 handle_sigint=False, http_session=self.http.session())
            answered = threading.Event()  # the Loop accepted or refused the Socket.IO CONNECT
            self._register_state_handlers(client, answered)
            self._broken = False
            self._client = client
            # wait=False: the namespace is awaited below in steps, so a stop need not wait for connect_wait
            client.connect(self.url, headers=self._headers(), socketio_path=SOCKETIO_PATH, wait=False)
            self._await_namespace(client, answered)
        except Exception as e:  # noqa: BLE001 - every failure is retried with backoff
            message = f'{type(e).__name__}: {e}' if str(e) else type(e).__name__
            self.last_error = f'connect to {self.url}: {message}'
            if not self._stopping.is_set():
                self._rate_log.warning('connect', 'Loop socket: could not connect to %s: %s', self.url, message)
            if client is not None:
                self._close_client()
            return False
        finally:
            self._attempting = False
        self.connections += 1
        self.last_ok = now_iso()
        self._set_connected(True)
        log.info('Loop socket connected to %s as %s', self.url, self.node_type)
        return True

    def _check_stopping(self) -> None:
        if self._stopping.is_set():
            raise LoopSocketError('stopping')

    def _await_namespace(self, client: LoopClient, answered: threading.Event) -> None:
        """Wait up to connect_wait s for the Loop to accept the Socket.IO CONNECT; LoopSocketError otherwise."""
        deadline = time.monotonic() + self._connect_wait
        wanted = set(client.connection_namespaces)
        while not wanted <= set(client.namespaces):
            if client.failed_namespaces:
                raise LoopSocketError(f'the Loop refused the connection ({", ".join(client.failed_namespaces)})')
            if client.eio.state != 'connected':
                raise LoopSocketError('the connection ended during the handshake')
            self._check_stopping()
            if time.monotonic() > deadline:
                raise LoopSocketError(f'no Socket.IO CONNECT answer within {self._connect_wait:g} s')
            answered.wait(STOP_STEP)  # in steps: a stop does not set it

    def _headers(self) -> dict[str, str]:
        return {'organization': self.settings.loop_organization or '',
                'project': self.settings.loop_project or '', 'nodeType': self.node_type}

    def _register_state_handlers(self, client: LoopClient, answered: threading.Event) -> None:
        def on_disconnect(*_reason: Any) -> None:
            answered.set()
            if client is self._client:
                self._connected = False
                self._wake.set()
        client.on('disconnect', on_disconnect)
        client.on('connect', answered.set)
        client.on('connect_error', lambda *_data: answered.set())

    def _set_connected(self, connected: bool) -> None:
        if connected != self._connected or connected:
            self._since = now_iso()
        self._connected = connected

    def _close_client(self) -> None:
        """Shut the current client down (not `disconnect()`), waiting at most SHUTDOWN_WAIT s (§6.2 step 4)."""
        client, self._client = self._client, None
        if client is None:
            return
        closer = threading.Thread(target=shut_down, args=(client, FLUSH_WAIT), name='loop-socket-close')
        with self._lock:
            self._closers = [t for t in self._closers if t.is_alive()] + [closer]
        closer.start()
        closer.join(SHUTDOWN_WAIT)
        if closer.is_alive():
            log.warning('the old Loop socket client did not shut down within %.0f s', SHUTDOWN_WAIT)
