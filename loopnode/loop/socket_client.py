"""The python-socketio client LoopSocket uses: incoming events leave the reading thread in arrival order.

python-engineio's threaded client starts a new thread for every received message, so two events could reach
python-socketio (and their handlers) in either order. `_ReadThreadEngineIO` passes Socket.IO EVENT messages on
in the thread that reads the connection; `LoopClient` then hands each event to LoopSocket's dispatcher instead
of running the handler there, and `send_ack` answers it later from whichever thread ran the handler. `shut_down`
flushes what is queued (an ack sent during shutdown) before the client is shut down.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import engineio
import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

log = logging.getLogger(__name__)


class _ReadThreadEngineIO(engineio.Client):
    """engine.io client that passes Socket.IO EVENT messages on in the reading thread (arrival order)."""

    def _receive_packet(self, pkt: Any) -> None:
        data = pkt.data
        if pkt.packet_type == eio_packet.MESSAGE and isinstance(data, str) \
                and data[:1] == str(sio_packet.EVENT) and 'message' in self.handlers:
            try:
                self.handlers['message'](data)
            except Exception:  # noqa: BLE001 - a bad message must not end the read loop
                log.exception('could not handle a Socket.IO message')
            return
        super()._receive_packet(pkt)


class LoopClient(socketio.Client):
    """python-socketio Client whose incoming events go to `on_event(client, namespace, id, data)`."""

    def __init__(self, on_event: Callable[['LoopClient', str | None, int | None, list[Any]], None],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_event = on_event

    def _engineio_client_class(self) -> type:
        return _ReadThreadEngineIO

    def _handle_event(self, namespace: str | None, id: int | None, data: list[Any]) -> None:
        self._on_event(self, namespace, id, data)

    def send_ack(self, namespace: str | None, id: int, data: list[Any]) -> None:
        self._send_packet(self.packet_class(sio_packet.ACK, namespace=namespace or '/', id=id, data=data))


def flush(client: LoopClient, timeout: float) -> None:
    """Let packets already queued (an ack of an event handled during shutdown) reach the Loop first."""
    eio = getattr(client, 'eio', None)
    outgoing = getattr(eio, 'queue', None)
    if outgoing is None or getattr(eio, 'state', None) != 'connected':
        return
    deadline = time.monotonic() + timeout
    with outgoing.all_tasks_done:  # engine.io's write loop marks each packet done once it is sent
        while outgoing.unfinished_tasks and (remaining := deadline - time.monotonic()) > 0:
            outgoing.all_tasks_done.wait(remaining)


def shut_down(client: LoopClient, flush_wait: float) -> None:
    """Flush (at most `flush_wait` s), then shut the client down and abort its engine.io connection."""
    flush(client, flush_wait)
    try:
        client.shutdown()
    except Exception:  # noqa: BLE001 - it is being discarded
        log.debug('Loop socket client shutdown failed', exc_info=True)
    try:
        client.eio.disconnect(abort=True)
    except Exception:  # noqa: BLE001
        log.debug('engine.io disconnect failed', exc_info=True)
