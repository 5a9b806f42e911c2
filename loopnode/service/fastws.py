"""A lean WebSocket transport for engine.io's threading mode on werkzeug (used by sockets.py; issue 7).

engine.io's default threading transport is simple-websocket over wsproto: a reader thread per connection
feeds 4 KiB (our setting: 256 KiB) `recv()` chunks into wsproto, which appends them to a bytearray, slices
frames out of it, unmasks them in Python (`bytes.translate` on four strided slices) and hands each message to
the engine.io thread through a `Condition`. A raw 640×480×3 frame (921,600 bytes) costs several copies and a
thread hop. `FastWebSocketWSGI` reads frames in the engine.io thread itself: it `recv_into()`s each payload
straight into one preallocated buffer, unmasks it in place with numpy (uint32 XOR) and returns it (a large
binary message is received into the `bytes` object engine.io keeps, `fillbytes.py`: no copy at all); sending
writes one frame per message. RFC 6455 server side, no extensions (permessage-deflate is declined, which
the RFC allows; Socket.IO clients send uncompressed then), no subprotocols. Held to Autobahn|Testsuite
(`make test-conformance`, docs/websocket-conformance.md): protocol errors close with 1002, text that is not
UTF-8 with 1007 as soon as the bad byte is in (incremental decoder), a valid close code is echoed.

Drop-in for `engineio.async_drivers._websocket_wsgi.SimpleWebSocketWSGI` (same constructor, `__call__`,
`wait`, `send`, `close`); only for werkzeug (`environ['werkzeug.socket']`), else it falls back to that class.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import logging
import select
import socket
import struct
import threading
from typing import Any, Callable

import numpy as np
from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

from . import fillbytes

log = logging.getLogger(__name__)

WS_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL, CLOSE_PROTOCOL, CLOSE_INVALID_DATA, CLOSE_TOO_BIG = 1000, 1002, 1007, 1009
# codes a peer may send (RFC 6455 §7.4.1 and the IANA registry; 1004-1006 and 1015 never go on the wire)
VALID_CLOSE_CODES = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015)) | frozenset(range(3000, 5000))
CLOSE_NAMES = {CLOSE_PROTOCOL: 'protocol error', CLOSE_INVALID_DATA: 'invalid data', CLOSE_TOO_BIG: 'too big'}
MAX_CLOSE_REASON = 123  # a control frame carries 125 bytes, 2 of them the code
UTF8_DECODER = codecs.getincrementaldecoder('utf-8')
SMALL_SEND = 64 * 1024  # header and payload go out in one send() below this size
READ_CHUNK = 64 * 1024


class WebSocketClosed(Exception):
    """The peer closed the connection or broke the protocol."""


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode('ascii') + WS_GUID).digest()).decode('ascii')


def unmask(payload: bytearray | memoryview, mask: bytes) -> None:
    """XOR `payload` in place with the 4-byte client mask (numpy on whole 32-bit words, bytes for the tail)."""
    n = len(payload)
    words = n // 4
    if words:
        view = np.frombuffer(payload, dtype=np.uint32, count=words)
        np.bitwise_xor(view, np.frombuffer(mask, dtype=np.uint32)[0], out=view)
    for i in range(words * 4, n):
        payload[i] ^= mask[i % 4]


def close_code(payload: bytes | bytearray) -> int | None:
    """The status code a close frame's payload carries (1000 if none), or None if it is malformed or reserved."""
    if not payload:
        return CLOSE_NORMAL
    if len(payload) == 1:
        return None
    code = struct.unpack('!H', payload[:2])[0]
    return code if code in VALID_CLOSE_CODES else None


def close_payload(code: int, reason: str) -> bytes:
    """Code and reason of a close frame, the reason cut to fit on a UTF-8 character boundary."""
    encoded = reason.encode('utf-8')[:MAX_CLOSE_REASON]
    return struct.pack('!H', code) + encoded.decode('utf-8', 'ignore').encode('utf-8')


def valid_key(key: str) -> bool:
    """True if a Sec-WebSocket-Key is base64 of 16 bytes (RFC 6455 §4.2.1 item 5)."""
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def frame_header(opcode: int, length: int) -> bytes:
    """Header of an unmasked, final server frame."""
    if length < 126:
        return struct.pack('!BB', 0x80 | opcode, length)
    if length < 1 << 16:
        return struct.pack('!BBH', 0x80 | opcode, 126, length)
    return struct.pack('!BBQ', 0x80 | opcode, 127, length)


class FrameSocket:
    """RFC 6455 frames on a connected server socket: `receive()` one message, `send()` one message."""

    def __init__(self, sock: socket.socket, max_message: int, zero_copy: bool = True) -> None:
        self.sock = sock
        self.max_message = max_message
        self.zero_copy = zero_copy  # False: the copying path (bytearray, then bytes()), for bench/ comparisons
        self.connected = True
        self._buffer = bytearray()
        self._send_lock = threading.Lock()
        self._poll: Any = None  # select.poll on the socket, made on first use

    def _fill(self, n: int) -> None:
        """Make `self._buffer` hold at least n bytes."""
        while len(self._buffer) < n:
            chunk = self.sock.recv(max(READ_CHUNK, n - len(self._buffer)))
            if not chunk:
                raise WebSocketClosed('connection closed by peer')
            self._buffer += chunk

    def _take(self, n: int) -> bytes:
        self._fill(n)
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _fail(self, code: int, reason: str) -> WebSocketClosed:
        """Close with `code` (the peer broke the protocol) and return the exception to raise."""
        self.close(code, reason)
        return WebSocketClosed(f'{CLOSE_NAMES.get(code, "closed")} {code}: {reason}')

    def _header(self) -> tuple[bool, int, int, bytes]:
        """fin, opcode, payload length and mask of the next frame, checked before its payload is read."""
        first, second = self._take(2)
        fin, opcode, masked, length = bool(first & 0x80), first & 0x0F, bool(second & 0x80), second & 0x7F
        if first & 0x70 or not masked:
            raise self._fail(CLOSE_PROTOCOL, 'reserved bits set or unmasked client frame')
        if opcode & 0x8 and (not fin or length > 125):
            raise self._fail(CLOSE_PROTOCOL, 'fragmented or oversized control frame')
        if length == 126:
            length = struct.unpack('!H', self._take(2))[0]
        elif length == 127:
            length = struct.unpack('!Q', self._take(8))[0]
        if length > self.max_message:  # before the mask: no need to wait for more of a frame we refuse
            raise self._fail(CLOSE_TOO_BIG, 'message too big')
        return fin, opcode, length, self._take(4)

    def _payload(self, length: int, mask: bytes,
                 on_data: Callable[[memoryview], None] | None = None) -> bytearray:
        """The next `length` bytes unmasked: what is buffered, then recv_into() straight into the result.

        With `on_data` (text), every unmasked byte is handed to it once, in order: what has arrived so far
        before each read that would block (so invalid UTF-8 fails fast while the peer stalls), the rest at
        the end; a frame that arrives without a stall is handed over in one piece.
        """
        if len(self._buffer) >= length:  # small frames: all buffered already
            payload = self._buffer[:length]
            del self._buffer[:length]
            unmask(payload, mask)
            if on_data is not None:
                on_data(memoryview(payload))
            return payload
        payload = bytearray(length)
        have = len(self._buffer)
        payload[:have] = self._buffer
        self._buffer.clear()
        view = memoryview(payload)
        done = 0
        while have < length:
            if on_data is not None and have > done and not self._readable():
                chunk = bytearray(view[done:have])  # a copy: the payload is unmasked once, aligned, at the end
                unmask(chunk, mask[done % 4:] + mask[:done % 4])
                on_data(memoryview(chunk))
                done = have
            got = self.sock.recv_into(view[have:])
            if not got:
                raise WebSocketClosed('connection closed by peer')
            have += got
        unmask(payload, mask)
        if on_data is not None:
            on_data(view[done:])
        return payload

    def _payload_bytes(self, length: int, mask: bytes) -> bytes:
        """The next `length` bytes unmasked, received straight into a new `bytes` (`fillbytes.new_bytes`)."""
        data, view = fillbytes.new_bytes(length)
        try:
            have = min(len(self._buffer), length)
            if have:
                with memoryview(self._buffer) as buffered:
                    view[:have] = buffered[:have]
                del self._buffer[:have]
            while have < length:
                got = self.sock.recv_into(view[have:])
                if not got:
                    raise WebSocketClosed('connection closed by peer')
                have += got
            unmask(view, mask)
        finally:
            view.release()
        return data

    def _readable(self) -> bool:
        """True if a read would not block now (a zero-timeout poll); where poll() is missing, always False."""
        if self._poll is None:
            if not hasattr(select, 'poll'):
                return False
            self._poll = select.poll()
            self._poll.register(self.sock, select.POLLIN)
        return bool(self._poll.poll(0))

    def _control(self, opcode: int, payload: bytearray) -> None:
        """Answer a ping, ignore a pong, echo a valid close (then raise WebSocketClosed), refuse other opcodes."""
        if opcode == OP_PING:
            self._send_frame(OP_PONG, bytes(payload))
        elif opcode == OP_CLOSE:
            code = close_code(payload)
            if code is None:
                raise self._fail(CLOSE_PROTOCOL, 'invalid close code')
            try:
                payload[2:].decode('utf-8')
            except UnicodeDecodeError:
                raise self._fail(CLOSE_INVALID_DATA, 'close reason is not UTF-8') from None
            self.close(code)
            raise WebSocketClosed(f'closed by peer ({code})')
        elif opcode != OP_PONG:
            raise self._fail(CLOSE_PROTOCOL, f'reserved opcode {opcode:#x}')

    def receive(self) -> str | bytes:
        """The next text (str) or binary (bytes) message; answers pings; WebSocketClosed on close or error."""
        parts: list[bytearray] = []
        texts: list[str] = []
        decoder: codecs.IncrementalDecoder | None = None
        message_opcode = None
        size = 0
        while True:
            fin, opcode, length, mask = self._header()
            if opcode & 0x8:
                self._control(opcode, self._payload(length, mask))
                continue
            if opcode == OP_CONT:
                if message_opcode is None:
                    raise self._fail(CLOSE_PROTOCOL, 'continuation frame without a message')
            elif opcode in (OP_TEXT, OP_BINARY):
                if message_opcode is not None:
                    raise self._fail(CLOSE_PROTOCOL, 'new message inside a fragmented one')
                message_opcode = opcode
                if opcode == OP_TEXT:
                    if fin and len(self._buffer) >= length:  # a whole text message already here (the common case)
                        return self._decode(self._payload(length, mask))
                    decoder = UTF8_DECODER()
            else:
                raise self._fail(CLOSE_PROTOCOL, f'reserved opcode {opcode:#x}')
            size += length
            if size > self.max_message:
                raise self._fail(CLOSE_TOO_BIG, 'message too big')
            if fin and not parts and decoder is None and self.zero_copy and fillbytes.available(length):
                return self._payload_bytes(length, mask)  # one large binary frame: the usual raw image
            if decoder is None:
                parts.append(self._payload(length, mask))
            else:  # UTF-8 is checked as the frame arrives, so an invalid text fails fast
                self._payload(length, mask, lambda chunk: self._decode_into(texts, chunk, decoder))
            if fin:
                if decoder is not None:
                    self._decode_into(texts, b'', decoder, final=True)
                    return texts[0] if len(texts) == 1 else ''.join(texts)
                return bytes(parts[0] if len(parts) == 1 else bytearray().join(parts))

    def _decode_into(self, texts: list[str], data: bytes | memoryview, decoder: codecs.IncrementalDecoder,
                     final: bool = False) -> None:
        """Append the text of the next part of a message to `texts` (if any: a lone str needs no join)."""
        text = self._decode(data, decoder, final)
        if text:
            texts.append(text)

    def _decode(self, data: bytes | bytearray | memoryview, decoder: codecs.IncrementalDecoder | None = None,
                final: bool = False) -> str:
        """UTF-8 text of a whole message (no decoder) or of the next part of one; closes with 1007 if invalid."""
        try:
            return str(data, 'utf-8') if decoder is None else decoder.decode(data, final)
        except UnicodeDecodeError:
            raise self._fail(CLOSE_INVALID_DATA, 'text message is not UTF-8') from None

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = frame_header(opcode, len(payload))
        with self._send_lock:
            if len(payload) < SMALL_SEND:
                self.sock.sendall(header + payload)
            else:
                self.sock.sendall(header)
                self.sock.sendall(payload)

    def send(self, message: str | bytes) -> None:
        if not self.connected:
            raise WebSocketClosed('connection is closed')
        if isinstance(message, str):
            self._send_frame(OP_TEXT, message.encode('utf-8'))
        else:
            self._send_frame(OP_BINARY, message if isinstance(message, bytes) else bytes(message))

    def close(self, code: int = CLOSE_NORMAL, reason: str = '') -> None:
        """Send a close frame once; the connection ends when the handler returns."""
        if not self.connected:
            return
        self.connected = False
        try:
            self._send_frame(OP_CLOSE, close_payload(code, reason))
        except OSError:
            pass


class FastWebSocketWSGI(SimpleWebSocketWSGI):
    """engine.io WebSocket driver for werkzeug: handshake on the raw socket, then `FrameSocket` I/O."""

    def __init__(self, handler: Callable[[Any], Any], server: Any, **kwargs: Any) -> None:
        super().__init__(handler, server, **kwargs)
        self.max_message = int(getattr(server, 'max_http_buffer_size', 64 * 1024 * 1024))
        self.frames: FrameSocket | None = None
        self._sock: socket.socket | None = None  # engine.io sets its ping timeout on `_sock`

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        sock = environ.get('werkzeug.socket')
        if sock is None:
            return super().__call__(environ, start_response)
        key = environ.get('HTTP_SEC_WEBSOCKET_KEY', '')
        if 'websocket' not in environ.get('HTTP_UPGRADE', '').lower() or not valid_key(key) \
                or environ.get('HTTP_SEC_WEBSOCKET_VERSION') != '13':
            self._drop_session()
            body = b'expected a WebSocket upgrade (version 13, Sec-WebSocket-Key: base64 of 16 bytes)'
            start_response('400 Bad Request', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
            return (body,)  # not a list: engine.io takes a list from a polling session's upgrade for its packets
        sock.sendall(('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                      f'Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n').encode('ascii'))
        self._sock = sock
        self.frames = FrameSocket(sock, self.max_message)
        self.app(self)
        raise ConnectionError()  # tells werkzeug the connection is gone (no HTTP response follows)

    def _drop_session(self) -> None:
        """Close the engine.io session a refused upgrade opened (a `transport=websocket` connect), at once.

        engine.io created it for this request and would keep it until its ping timeout. `close(wait=False,
        abort=True)` (the socket's public close: no CLOSE packet, no join of the never-read queue) marks it
        closed, so engine.io drops it as soon as this call returns. A polling session that asked to upgrade
        is connected already and stays: its client goes on polling.
        """
        session = getattr(self.app, '__self__', None)  # the handler is the engine.io socket's bound method
        if session is None or getattr(session, 'connected', True):
            return
        try:
            session.close(wait=False, abort=True, reason=session.server.reason.TRANSPORT_ERROR)
        except Exception:  # noqa: BLE001 - the 400 goes out regardless; the ping timeout is the fallback
            log.exception('could not close the engine.io session of a refused upgrade')

    def close(self) -> None:
        if self.frames is None:
            return super().close()
        self.frames.close()

    def send(self, message: str | bytes) -> None:
        if self.frames is None:
            return super().send(message)
        try:
            self.frames.send(message)
        except (WebSocketClosed, OSError) as e:
            raise OSError(str(e)) from None

    def wait(self) -> str | bytes | None:
        if self.frames is None:
            return super().wait()
        try:
            return self.frames.receive()
        except (WebSocketClosed, OSError) as e:
            log.debug('websocket ended: %s', e)
            self.frames.connected = False
            return None
