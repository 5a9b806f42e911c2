"""service/fastws.py: RFC 6455 frames, and engine.io over it with a real Socket.IO client."""
from __future__ import annotations

import os
import socket
import struct
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import socketio
from flask import Flask

from loopnode.service.fastws import (CLOSE_INVALID_DATA, CLOSE_NORMAL, CLOSE_PROTOCOL, CLOSE_TOO_BIG, OP_BINARY,
                                     OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, FastWebSocketWSGI, FrameSocket,
                                     WebSocketClosed, accept_key, close_payload, unmask, valid_key)
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


@pytest.mark.parametrize('zero_copy', [True, False])
def test_a_large_binary_frame_arriving_in_pieces_is_one_bytes_object(zero_copy: bool) -> None:
    """The raw-image path: a 921,603-byte frame sent in pieces (part of it buffered with the header) comes
    back as `bytes` (engine.io keeps it as it is), equal to what was sent; the next message is intact."""
    server, client = socket.socketpair()
    server.settimeout(5)
    try:
        frames = FrameSocket(server, max_message=1 << 20, zero_copy=zero_copy)
        big = os.urandom(921_603)
        wire = client_frame(OP_BINARY, big) + client_frame(OP_TEXT, b'next')

        def send() -> None:
            for i in range(0, len(wire), 100_003):
                client.sendall(wire[i:i + 100_003])
        sender = threading.Thread(target=send, name='test-sender')
        sender.start()
        message = frames.receive()
        assert type(message) is bytes and message == big
        assert frames.receive() == 'next'
        sender.join(5)
    finally:
        server.close()
        client.close()


def test_a_peer_closing_inside_a_large_binary_frame_ends_the_socket(pair: tuple[FrameSocket, socket.socket]) -> None:
    frames, peer = pair
    peer.sendall(client_frame(OP_BINARY, os.urandom(300_000))[:150_000])
    peer.shutdown(socket.SHUT_WR)
    with pytest.raises(WebSocketClosed, match='closed by peer'):
        frames.receive()


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


def closed_with(frames: FrameSocket, peer: socket.socket) -> tuple[int, bytes]:
    """receive() must end the connection; the close frame the peer got, as (code, reason)."""
    with pytest.raises(WebSocketClosed):
        frames.receive()
    assert not frames.connected
    opcode, payload = read_server_frame(peer)
    assert opcode == OP_CLOSE
    return struct.unpack('!H', payload[:2])[0], payload[2:]


def test_control_frame_over_125_bytes_gets_1002(pair: tuple[FrameSocket, socket.socket]) -> None:
    """Autobahn 2.5: a ping with 126 bytes of payload is a protocol error, not answered with a pong."""
    frames, peer = pair
    peer.sendall(client_frame(OP_PING, b'x' * 126))
    assert closed_with(frames, peer)[0] == CLOSE_PROTOCOL


def test_fragmented_ping_gets_1002(pair: tuple[FrameSocket, socket.socket]) -> None:
    """Autobahn 5.1: control frames must not be fragmented."""
    frames, peer = pair
    peer.sendall(client_frame(OP_PING, b'fragment1', fin=False) + client_frame(OP_CONT, b'fragment2'))
    assert closed_with(frames, peer)[0] == CLOSE_PROTOCOL


@pytest.mark.parametrize('opcode', [0x3, 0x7, 0xB, 0xF])
def test_reserved_opcodes_get_1002(pair: tuple[FrameSocket, socket.socket], opcode: int) -> None:
    """Autobahn 4.*: reserved opcodes, data and control."""
    frames, peer = pair
    peer.sendall(client_frame(opcode, b''))
    assert closed_with(frames, peer)[0] == CLOSE_PROTOCOL


def test_close_with_one_byte_payload_gets_1002(pair: tuple[FrameSocket, socket.socket]) -> None:
    """Autobahn 7.3.2: a close payload is empty or starts with a 2-byte code."""
    frames, peer = pair
    peer.sendall(client_frame(OP_CLOSE, b'\x03'))
    assert closed_with(frames, peer)[0] == CLOSE_PROTOCOL


@pytest.mark.parametrize('code', [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000])
def test_close_with_reserved_code_gets_1002(pair: tuple[FrameSocket, socket.socket], code: int) -> None:
    """Autobahn 7.9.*: codes that must not be sent are a protocol error, not echoed as 1000."""
    frames, peer = pair
    peer.sendall(client_frame(OP_CLOSE, struct.pack('!H', code)))
    assert closed_with(frames, peer)[0] == CLOSE_PROTOCOL


def test_close_reason_not_utf8_gets_1007(pair: tuple[FrameSocket, socket.socket]) -> None:
    """Autobahn 7.5.1: the close reason is UTF-8."""
    frames, peer = pair
    peer.sendall(client_frame(OP_CLOSE, struct.pack('!H', 1000) + 'ü'.encode()[:1] + b'ok'))
    assert closed_with(frames, peer)[0] == CLOSE_INVALID_DATA


@pytest.mark.parametrize('code', [1000, 1001, 1003, 1007, 1011, 3000, 3999, 4000, 4999])
def test_valid_close_code_is_echoed(pair: tuple[FrameSocket, socket.socket], code: int) -> None:
    """Autobahn 7.7.*: the close handshake answers with the peer's own code."""
    frames, peer = pair
    peer.sendall(client_frame(OP_CLOSE, struct.pack('!H', code) + 'bye ü'.encode()))
    assert closed_with(frames, peer) == (code, b'')


def test_empty_close_is_answered_with_1000(pair: tuple[FrameSocket, socket.socket]) -> None:
    """Autobahn 7.3.1: a close without a code."""
    frames, peer = pair
    peer.sendall(client_frame(OP_CLOSE, b''))
    assert closed_with(frames, peer)[0] == CLOSE_NORMAL


def test_invalid_utf8_fails_fast_on_fragments(pair: tuple[FrameSocket, socket.socket]) -> None:
    """Autobahn 6.4.1/6.4.2: the fragment that makes the text invalid closes with 1007; the rest never comes."""
    frames, peer = pair
    peer.sendall(client_frame(OP_TEXT, 'κόσμε'.encode(), fin=False) + client_frame(OP_CONT, b'\xf4', fin=False)
                 + client_frame(OP_CONT, b'\x90', fin=False))  # U+110000 is out of range; no final fragment
    assert closed_with(frames, peer)[0] == CLOSE_INVALID_DATA


def test_invalid_utf8_fails_fast_inside_one_frame(pair: tuple[FrameSocket, socket.socket]) -> None:
    """Autobahn 6.4.3/6.4.4: a frame announced as 1000 bytes, of which only an invalid start arrives."""
    frames, peer = pair
    mask = b'\x00\x00\x00\x00'
    peer.sendall(bytes([0x80 | OP_TEXT, 0x80 | 126]) + struct.pack('!H', 1000) + mask + 'κόσμε'.encode() + b'\xf4\x90')
    assert closed_with(frames, peer)[0] == CLOSE_INVALID_DATA


@pytest.mark.parametrize('payload', [b'\xe2\x82', b'ok\xed\xa0\x80', b'\xff'])
def test_invalid_text_message_gets_1007(pair: tuple[FrameSocket, socket.socket], payload: bytes) -> None:
    """Autobahn 6.3/6.8: a whole invalid text message (truncated character, surrogate, 0xff) closes with 1007."""
    frames, peer = pair
    peer.sendall(client_frame(OP_TEXT, payload))
    assert closed_with(frames, peer)[0] == CLOSE_INVALID_DATA


def test_text_message_ending_inside_a_character_across_fragments_gets_1007(
        pair: tuple[FrameSocket, socket.socket]) -> None:
    frames, peer = pair
    peer.sendall(client_frame(OP_TEXT, b'ab', fin=False) + client_frame(OP_CONT, '€'.encode()[:2]))
    assert closed_with(frames, peer)[0] == CLOSE_INVALID_DATA


def test_characters_split_across_fragments_and_reads(pair: tuple[FrameSocket, socket.socket]) -> None:
    """Autobahn 6.2/6.5: valid text split at every byte, and a frame bigger than one read, decodes whole."""
    frames, peer = pair
    text = 'aü€𝄞z'
    encoded = text.encode()
    for cut in range(1, len(encoded)):
        peer.sendall(client_frame(OP_TEXT, encoded[:cut], fin=False) + client_frame(OP_CONT, encoded[cut:]))
        assert frames.receive() == text
    big = '€𝄞ü' * 30_000  # 270 kB: read in several chunks, which end inside characters
    sender = threading.Thread(target=peer.sendall, args=(client_frame(OP_TEXT, big.encode()),), name='test-sender')
    sender.start()
    assert frames.receive() == big
    sender.join(5)


def test_close_reason_is_cut_on_a_character_boundary() -> None:
    payload = close_payload(CLOSE_PROTOCOL, 'ü' * 100)
    assert len(payload) <= 125
    assert payload[2:].decode('utf-8') == 'ü' * 61


def test_valid_key_is_base64_of_16_bytes() -> None:
    assert valid_key('dGhlIHNhbXBsZSBub25jZQ==')
    assert not valid_key('!!not-base64!!')
    assert not valid_key('dGhlIHNhbXBsZSBub25j')  # 15 bytes
    assert not valid_key('')


def handshake(sock: socket.socket, key: str) -> bytes:
    """Send a WebSocket upgrade request on `sock` and return the response head (read byte by byte, frames follow)."""
    sock.sendall(('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                  f'Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n').encode())
    head = b''
    while not head.endswith(b'\r\n\r\n'):
        byte = sock.recv(1)
        if not byte:
            break
        head += byte
    return head


def upgrade(port: int, key: str) -> bytes:
    """The response head to a WebSocket upgrade with `key`, on a new TCP connection."""
    with socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
        return handshake(sock, key)


@pytest.fixture
def ws_server() -> tuple[HttpServer, list]:
    """HttpServer with a FastWebSocketWSGI endpoint whose handler records what `wait()` returned."""
    received: list = []
    engine = SimpleNamespace(max_http_buffer_size=1 << 20)  # what the driver reads from engine.io's server

    def handler(ws: FastWebSocketWSGI) -> None:
        received.append(ws.wait())

    def app(environ: dict, start_response: object) -> object:
        return FastWebSocketWSGI(handler, engine)(environ, start_response)
    server = HttpServer(app, '127.0.0.1', 0, name='test-http')
    server.start()
    yield server, received
    server.shutdown(2)


def test_upgrade_with_a_valid_key_gets_101(ws_server: tuple[HttpServer, list]) -> None:
    head = upgrade(ws_server[0].port, 'dGhlIHNhbXBsZSBub25jZQ==')
    assert head.startswith(b'HTTP/1.1 101') and b's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' in head


def test_upgrade_with_a_key_that_is_not_base64_of_16_bytes_gets_400(ws_server: tuple[HttpServer, list]) -> None:
    """Issue 19: `Sec-WebSocket-Key: !!not-base64!!` is a bad request, not a 101."""
    server, received = ws_server
    assert upgrade(server.port, '!!not-base64!!').startswith(b'HTTP/1.1 400')
    assert upgrade(server.port, 'dGhlIHNhbXBsZSBub25j').startswith(b'HTTP/1.1 400')  # base64 of 15 bytes
    assert received == []


def bad_upgrade(port: int, sid: str = '') -> bytes:
    """The answer to a Socket.IO WebSocket upgrade whose key is not base64 (a new session, or `sid`'s)."""
    query = f'EIO=4&transport=websocket&sid={sid}' if sid else 'EIO=4&transport=websocket'
    with socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
        sock.sendall(f'GET /ws/socket.io/?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n'.encode()
                     + b'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: !!not-base64!!\r\n'
                       b'Sec-WebSocket-Version: 13\r\n\r\n')
        return sock.recv(4096)


def test_socketio_upgrade_with_a_bad_key_gets_400_and_its_session_is_gone_at_once() -> None:
    """Issue 19: the same through the node's Socket.IO endpoint (engine.io hands the request to fastws). The
    engine.io session opened for the refused connect is closed with the 400, not kept until its ping timeout;
    a polling session whose upgrade is refused stays (its client goes on polling)."""
    app = Flask(__name__)
    sio = create_socketio(app)
    eio = sio.server.eio
    server = HttpServer(app, '127.0.0.1', 0, name='test-http')
    server.start()
    try:
        assert bad_upgrade(server.port).startswith(b'HTTP/1.1 400')
        assert eio.sockets == {}  # engine.io drops a closed session before it answers
        with socket.create_connection(('127.0.0.1', server.port), timeout=5) as sock:
            sock.sendall(b'GET /ws/socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                         b'Connection: close\r\n\r\n')
            opened = b''
            while chunk := sock.recv(4096):
                opened += chunk
        sid = opened.split(b'"sid":"', 1)[1].split(b'"', 1)[0].decode()
        assert bad_upgrade(server.port, sid).startswith(b'HTTP/1.1 400')
        assert list(eio.sockets) == [sid] and not eio.sockets[sid].closed
    finally:
        for engine_socket in list(eio.sockets.values()):  # disconnect() would join a never-read queue forever
            engine_socket.close(wait=False, abort=True)
        eio.shutdown()  # stops engine.io's service task
        server.shutdown(2)


def test_wait_closes_invalid_text_with_1007_over_tcp(ws_server: tuple[HttpServer, list]) -> None:
    """Autobahn 6.*: through the engine.io driver, invalid UTF-8 makes `wait()` return None (not raise) and the
    client gets a 1007 close."""
    server, received = ws_server
    key = 'dGhlIHNhbXBsZSBub25jZQ=='
    with socket.create_connection(('127.0.0.1', server.port), timeout=5) as sock:
        head = handshake(sock, key)
        assert head.startswith(b'HTTP/1.1 101') and accept_key(key).encode() in head
        sock.sendall(client_frame(OP_TEXT, b'\xce\xba\xff'))
        opcode, payload = read_server_frame(sock)
    assert opcode == OP_CLOSE and struct.unpack('!H', payload[:2])[0] == CLOSE_INVALID_DATA
    until(lambda: received == [None], 5, message='wait() returned None')
