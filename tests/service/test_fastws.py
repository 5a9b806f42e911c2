"""service/fastws.py: RFC 6455 frames, and engine.io over it with a real Socket.IO client."""
from __future__ import annotations

import os
import socket
import struct
import threading

import numpy as np
import pytest
import socketio
from flask import Flask

from loopnode.service.fastws import (CLOSE_PROTOCOL, CLOSE_TOO_BIG, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG,
                                     OP_TEXT, FastWebSocketWSGI, FrameSocket, WebSocketClosed, accept_key, unmask)
from loopnode.service.server import HttpServer
from loopnode.service.sockets import create_socketio
from tests.helpers import until


def client_frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes = b'\x01\x82\x33\xf4') -> bytes:
    """A masked client frame, built by hand (the reference for the parser)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack('!H', n)
    else:
        head += bytes([0x80 | 127]) + struct.pack('!Q', n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_server_frame(sock: socket.socket) -> tuple[int, bytes]:
    def exact(n: int) -> bytes:
        data = b''
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk
            data += chunk
        return data
    first, second = exact(2)
    n = second & 0x7F
    if n == 126:
        n = struct.unpack('!H', exact(2))[0]
    elif n == 127:
        n = struct.unpack('!Q', exact(8))[0]
    return first & 0x0F, exact(n)


@pytest.fixture
def pair() -> tuple[FrameSocket, socket.socket]:
    server, client = socket.socketpair()
    server.settimeout(5)
    client.settimeout(5)
    yield FrameSocket(server, max_message=1 << 20), client
    server.close()
    client.close()


def test_accept_key_matches_rfc_6455_example() -> None:
    assert accept_key('dGhlIHNhbXBsZSBub25jZQ==') == 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='


@pytest.mark.parametrize('size', [0, 1, 3, 4, 5, 1023, 921_600 + 3])
def test_unmask_equals_bytewise_xor(size: int) -> None:
    data = os.urandom(size)
    mask = b'\xa1\x02\xff\x10'
    buffer = bytearray(data)
    unmask(buffer, mask)
    assert bytes(buffer) == bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def test_text_binary_and_fragmented_messages(pair: tuple[FrameSocket, socket.socket]) -> None:
    frames, peer = pair
    big = os.urandom(200_000)
    peer.sendall(client_frame(OP_TEXT, '42["detect",{}]'.encode()) + client_frame(OP_BINARY, big)
                 + client_frame(OP_BINARY, b'ab', fin=False) + client_frame(OP_CONT, b'cd', fin=False)
                 + client_frame(OP_CONT, b'e'))
    assert frames.receive() == '42["detect",{}]'
    assert frames.receive() == big
    assert frames.receive() == b'abcde'


def test_ping_is_answered_and_close_is_echoed(pair: tuple[FrameSocket, socket.socket]) -> None:
    frames, peer = pair
    peer.sendall(client_frame(OP_PING, b'hi') + client_frame(OP_TEXT, b'x') + client_frame(OP_CLOSE, b'\x03\xe8'))
    assert frames.receive() == 'x'
    assert read_server_frame(peer) == (OP_PONG, b'hi')
    with pytest.raises(WebSocketClosed):
        frames.receive()
    assert read_server_frame(peer) == (OP_CLOSE, b'\x03\xe8')
    assert not frames.connected


def test_oversized_and_unmasked_frames_close_the_connection(pair: tuple[FrameSocket, socket.socket]) -> None:
    frames, peer = pair
    peer.sendall(b'\x82\xff' + struct.pack('!Q', 2 << 20))  # a 2 MiB masked frame header; the limit is 1 MiB
    with pytest.raises(WebSocketClosed, match='too big'):
        frames.receive()
    opcode, payload = read_server_frame(peer)
    assert opcode == OP_CLOSE and struct.unpack('!H', payload[:2])[0] == CLOSE_TOO_BIG

    server, client = socket.socketpair()
    try:
        unmasked = FrameSocket(server, max_message=1024)
        client.sendall(b'\x82\x01x')
        with pytest.raises(WebSocketClosed, match='protocol'):
            unmasked.receive()
        opcode, payload = read_server_frame(client)
        assert opcode == OP_CLOSE and struct.unpack('!H', payload[:2])[0] == CLOSE_PROTOCOL
    finally:
        server.close()
        client.close()


def test_send_frames_text_and_large_binary(pair: tuple[FrameSocket, socket.socket]) -> None:
    frames, peer = pair
    big = os.urandom(100_000)
    sender = threading.Thread(target=lambda: (frames.send('3probe'), frames.send(big)), name='test-sender')
    sender.start()
    assert read_server_frame(peer) == (OP_TEXT, b'3probe')
    assert read_server_frame(peer) == (OP_BINARY, big)
    sender.join(5)


def test_socketio_over_fastws_raw_frame_text_and_disconnect() -> None:
    """A python-socketio Client on WebSocket: a raw 640x480x3 frame and a text event are acked over fastws."""
    app = Flask(__name__)
    sio = create_socketio(app)
    eio = sio.server.eio
    eio._async = dict(eio._async, websocket=FastWebSocketWSGI)  # what sockets.create_socketio would do

    @sio.on('echo_len')
    def echo_len(data: dict) -> dict:
        pixels = np.frombuffer(data['bytes'], np.uint8)
        return {'len': len(pixels), 'sum': int(pixels.sum()), 'name': data['name']}
    server = HttpServer(app, '127.0.0.1', 0)
    server.start()
    client = socketio.Client(reconnection=False)
    try:
        client.connect(server.url, socketio_path='/ws/socket.io', transports=['websocket'], wait_timeout=5)
        frame = np.random.default_rng(2).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        for _ in range(3):
            ack = client.call('echo_len', {'bytes': frame.tobytes(), 'name': 'cam ü'}, timeout=10)
            assert ack == {'len': frame.nbytes, 'sum': int(frame.sum()), 'name': 'cam ü'}
    finally:
        client.disconnect()
        # engine.io race: Server.disconnect() while a just-closed socket's writer has exited but the socket is not
        # yet closed blocks forever in queue.join(); wait for the server side to finish closing it instead
        until(lambda: all(s.closed for s in eio.sockets.values()), 5, message='the server closed the socket')
        eio.disconnect()  # stops engine.io's service task
        server.shutdown(2)
