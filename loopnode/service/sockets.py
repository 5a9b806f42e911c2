"""Factory for the local Socket.IO server every node mounts on its Flask app."""
from __future__ import annotations

from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from .fastws import FastWebSocketWSGI

SOCKETIO_PATH = '/ws/socket.io'
MAX_HTTP_BUFFER_SIZE = 64 * 1024 * 1024  # a raw 1280x720x3 frame is 2.7 MB; the 1 MB default drops clients


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
    eio._async = dict(eio._async, websocket=FastWebSocketWSGI)
    return socketio
