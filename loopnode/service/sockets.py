"""Factory for the local Socket.IO server every node mounts on its Flask app."""
from __future__ import annotations

from typing import Any

import simple_websocket
from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI
from flask import Flask
from flask_socketio import SocketIO

SOCKETIO_PATH = '/ws/socket.io'
MAX_HTTP_BUFFER_SIZE = 64 * 1024 * 1024  # a raw 1280x720x3 frame is 2.7 MB; the 1 MB default drops clients
WEBSOCKET_RECEIVE_BYTES = 256 * 1024  # simple-websocket reads 4 KiB per recv(); a raw frame needed ~700 reads


class LargeReadWebSocket(SimpleWebSocketWSGI):
    """engine.io's threading WebSocket driver, reading the socket in 256 KiB chunks instead of 4 KiB."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.ws = simple_websocket.Server(environ, receive_bytes=WEBSOCKET_RECEIVE_BYTES, **self.server_args)
        ret = self.app(self)
        if self.ws.mode == 'gunicorn':
            raise StopIteration()
        if self.ws.mode == 'werkzeug':
            raise ConnectionError()
        return ret


def create_socketio(app: Flask, **kwargs: Any) -> SocketIO:
    """Flask-SocketIO in threading mode at /ws/socket.io with a 64 MiB buffer; handlers run in their own threads."""
    options: dict[str, Any] = dict(
        async_mode='threading',
        path=SOCKETIO_PATH,
        max_http_buffer_size=MAX_HTTP_BUFFER_SIZE,
        async_handlers=True,
        cors_allowed_origins='*',
        logger=False,
        engineio_logger=False,
    )
    options.update(kwargs)
    socketio = SocketIO(app, **options)
    eio = socketio.server.eio
    # per-instance copy: the driver table is a module-level dict shared by every engine.io server
    eio._async = dict(eio._async, websocket=LargeReadWebSocket)
    return socketio
