"""The echo endpoint Autobahn's fuzzing client talks to: every message back as it came, on any path."""
from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, Callable, Iterable

from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

from loopnode.service.fastws import FastWebSocketWSGI
from loopnode.service.sockets import MAX_HTTP_BUFFER_SIZE

log = logging.getLogger(__name__)

DRIVERS: dict[str, type] = {'fastws': FastWebSocketWSGI, 'simple-websocket': SimpleWebSocketWSGI}


def echo_handler(ws: Any) -> None:
    """Echo each message back; like engine.io's handler, an error in `wait()` ends the loop and `close()` follows."""
    while True:
        try:
            message = ws.wait()
        except Exception as e:  # noqa: BLE001 - engine.io treats any receive error as the end of the connection
            log.warning('wait() raised %r; closing', e)
            break
        if message is None:
            break
        try:
            ws.send(message)
        except OSError:
            break
    ws.close()


def echo_app(driver: str = 'fastws', max_message: int = MAX_HTTP_BUFFER_SIZE) -> Callable[..., Iterable[bytes]]:
    """A WSGI app that upgrades every request with the named driver, as engine.io does (one driver per request)."""
    driver_class = DRIVERS[driver]
    server = SimpleNamespace(max_http_buffer_size=max_message)  # what the drivers read from engine.io's server

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return driver_class(echo_handler, server)(environ, start_response)
    return app
