"""SocketNodeService: the shared shell of the Socket.IO nodes (trainer, annotator, converter; loop-protocol §6, §10).

On top of `NodeService` it owns a `LoopSocket` (thread `loop-socket`) and the `repeat` thread:

* `socket_node_type`: the `nodeType` header (`trainer`, `annotation_node`, `converter`).
* `socket_handlers() -> {event: handler}`: Loop → node events, registered at start (return/raise → ack,
  §6.3). `restart` is registered by the base: it ends the process with exit code 75, as does a handler
  (or a repeat cycle) raising `NodeNeedsRestartError` (after a failure ack). Handlers that need
  ordered dispatch call `self.loop_socket.on(event, handler, dispatch=...)` themselves.
* `repeat_cycle()`: runs at once and then every `LOOP_POLL_INTERVAL` s on `repeat`, muted while
  `SKIP_REPEAT_ON_START` or `PUT /socketio off` are in effect (§10.2). It runs whether or not the socket is
  connected; check `loop_connected()` before a `self.loop_socket.call(...)`.
* `PUT /socketio off` disconnects the socket and keeps it down, `on` reconnects at once.
* `GET /status` → `loop`: `connected`, `since`, `last_ok`, `last_error` of the socket. `/healthz` stays green
  while the Loop is away; it turns red only if the `loop-socket` or `repeat` thread dies.
* Shutdown (§10.3): the socket is shut down in `stop_workers()`, after the type workers were signalled.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from ..loop.socket import LoopSocket, LoopSocketError
from ..settings import Settings
from .node import EXIT_RESTART, NodeService
from .workers import PeriodicWorker

log = logging.getLogger(__name__)


class SocketNodeService(NodeService):
    """NodeService + LoopSocket + repeat cycle; subclasses set `socket_node_type` and override the hooks."""

    socket_node_type = 'trainer'

    def __init__(self, settings: Settings, *, name: str | None = None, uuid: str | None = None,
                 socket_options: dict[str, Any] | None = None) -> None:
        super().__init__(settings, name=name, uuid=uuid)
        self.loop_socket = LoopSocket(settings, self.loop_http, node_type=self.socket_node_type,
                                      stop=self.shutdown_requested, **(socket_options or {}))
        self.loop_socket.on('restart', self.on_restart_event)
        self.loop_socket.on_restart = lambda: self.request_exit(EXIT_RESTART)
        self.repeat = self.add_worker(PeriodicWorker('repeat', self._repeat_tick,
                                                     lambda: self.settings.loop_poll_interval,
                                                     muted=lambda: self.loop_muted))

    # ---- hooks ------------------------------------------------------------------------------------------

    def socket_handlers(self) -> dict[str, Callable[..., Any]]:
        """Loop → node event handlers, registered when the node starts."""
        return {}

    def repeat_cycle(self) -> None:
        """One repeat cycle (status to the Loop, ...); a LoopSocketError is logged as one line, any other
        exception with its traceback; the cycle goes on."""

    # ---- NodeService overrides --------------------------------------------------------------------------

    def start(self) -> None:
        for event, handler in self.socket_handlers().items():
            self.loop_socket.on(event, handler)
        super().start()
        self.loop_socket.start()

    def stop_workers(self) -> None:
        self.loop_socket.stop(self.settings.shutdown_grace)

    def loop_connected(self) -> bool | None:
        return self.loop_socket.connected

    def loop_state(self) -> dict[str, Any]:
        state = self.loop_socket.state()
        health = self.loop_http.health
        return {'connected': state['connected'], 'since': state['since'],
                'last_ok': state['last_ok'] or health.last_ok, 'last_error': state['last_error'] or health.last_error}

    def on_loop_socket(self, on: bool) -> None:
        if on:
            self.loop_socket.resume()
            self.repeat.trigger()
        else:
            self.loop_socket.pause()

    def stragglers(self) -> list[str]:
        return super().stragglers() + self.loop_socket.stragglers()

    def dead_threads(self) -> list[str]:
        dead = super().dead_threads()
        if self._started and not self.stopping and self.loop_socket.dead:
            dead.append('loop-socket')
        return dead

    # ---- internals --------------------------------------------------------------------------------------

    def on_restart_event(self) -> None:
        """`restart` from the Loop: exit with 75 so systemd starts the node again (§6.5, §10.4)."""
        log.warning('the Loop asked for a restart; exiting with %d', EXIT_RESTART)
        self.request_exit(EXIT_RESTART)

    def _repeat_tick(self) -> None:
        try:
            self.repeat_cycle()
        except LoopSocketError as e:  # the Loop went away mid-cycle: expected, the socket reconnects
            if not self.shutdown_requested.is_set():
                log.warning('repeat cycle: %s', e)
