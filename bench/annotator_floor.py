"""An annotator that acks every `handle_user_input` at once: the floor of a round trip through devloop.

`python annotator_floor.py threaded URL` (python-socketio `Client`, the client loopnode's nodes use) or
`python annotator_floor.py async URL` (`AsyncClient` over aiohttp, run from .venv-upstream: upstream's nodes).
bench/nodes.py runs both beside the real annotators, so the table can say how much of a round trip is the
node's own work and how much is devloop and the Socket.IO client library.
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any

import socketio

HEADERS = {'organization': 'zauberzeug', 'project': 'demo', 'nodeType': 'annotation_node'}
ACK = {'success': True, 'error_msg': None, 'payload': '<rect x="1" y="1" width="1" height="1" fill="blue"/>'}


def threaded(url: str) -> None:
    client = socketio.Client()
    client.on('handle_user_input', lambda data: ACK)
    client.connect(url, headers=HEADERS, socketio_path='/ws/socket.io', transports=['websocket'])
    client.wait()


async def asynchronous(url: str) -> None:
    client = socketio.AsyncClient()

    async def handle(data: Any) -> dict[str, Any]:
        return ACK
    client.on('handle_user_input', handle)
    await client.connect(url, headers=HEADERS, socketio_path='/ws/socket.io', transports=['websocket'])
    await client.wait()


if __name__ == '__main__':
    mode, loop_url = sys.argv[1], sys.argv[2]
    if mode == 'threaded':
        threaded(loop_url)
    else:
        asyncio.run(asynchronous(loop_url))
