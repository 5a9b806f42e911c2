"""The local Socket.IO server: path, transports, large binary payloads over the WebSocket transport."""
from __future__ import annotations

import numpy as np
import socketio
from flask import Flask

from loopnode.service.server import HttpServer
from loopnode.service.sockets import create_socketio


def test_large_binary_event_over_websocket() -> None:
    """A 2.7 MB raw frame (1280x720x3) arrives intact over WebSocket at /ws/socket.io and is acked."""
    app = Flask(__name__)
    sio = create_socketio(app)

    @sio.on('echo_len')
    def echo_len(data: dict) -> dict:
        return {'len': len(data['bytes']), 'sum': int(np.frombuffer(data['bytes'], np.uint8).sum())}
    server = HttpServer(app, '127.0.0.1', 0)
    server.start()
    client = socketio.Client()
    try:
        client.connect(server.url, socketio_path='/ws/socket.io', wait_timeout=5)
        assert client.transport() == 'websocket'
        frame = np.random.default_rng(1).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
        ack = client.call('echo_len', {'bytes': frame.tobytes()}, timeout=20)
        assert ack == {'len': frame.nbytes, 'sum': int(frame.sum())}
    finally:
        client.disconnect()
        eio = sio.server.eio
        for socket in list(eio.sockets.values()):
            # eio.disconnect() joins each socket's send queue, which can block forever once the client has
            # gone (seen under load); close without waiting, as NodeService.before_server_shutdown does
            socket.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
        eio.sockets = {}
        server.shutdown(2)
