"""The echo endpoint Autobahn's fuzzing client talks to: every message back as it came, on any path."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable, Iterable

from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

from loopnode.service.fastws import FastWebSocketWSGI
from loopnode.service.sockets import MAX_HTTP_BUFFER_SIZE

DRIVERS: dict[str, type] = {'fastws': FastWebSocketWSGI, 'simple-websocket': SimpleWebSocketWSGI}


def echo_handler(ws: Any) -> None:
    """engine.io-style handler: `wait()` a message, `send()` it back, until `wait()` says the peer is gone."""
    while True:
        message = ws.wait()
        if message is None:
            return
        ws.send(message)


def echo_app(driver: str = 'fastws', max_message: int = MAX_HTTP_BUFFER_SIZE) -> Callable[..., Iterable[bytes]]:
    """A WSGI app that upgrades every request with the named driver, as engine.io does (one driver per request)."""
    driver_class = DRIVERS[driver]
    server = SimpleNamespace(max_http_buffer_size=max_message)  # what the drivers read from engine.io's server

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return driver_class(echo_handler, server)(environ, start_response)
    return app
