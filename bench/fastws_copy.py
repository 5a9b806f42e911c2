"""Memory and time of receiving one raw 640×480×3 WebSocket frame in fastws: copying path vs zero-copy path.

    .venv/bin/python bench/fastws_copy.py [--messages 300] [--size 921600]

A sender thread writes masked binary frames on a socketpair; `FrameSocket.receive()` reads them and hands
each to engine.io's `Packet` (which copies anything that is not `bytes`), as the node's WebSocket thread does.
`zero_copy=False` is the path before (payload into a bytearray, then `bytes()`), `True` receives into the
`bytes` object itself (service/fillbytes.py). Reported per path: the traced peak (tracemalloc) of one
receive + decode above what was allocated before it, the bytes still traced after it (the message, alive),
and the median time per message with tracemalloc off.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import sys
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engineio.packet import Packet  # noqa: E402

from loopnode.service.fastws import OP_BINARY, FrameSocket  # noqa: E402

MIB = 1024 * 1024


def masked_frame(payload: bytes, mask: bytes = b'\x37\xfa\x21\x3d') -> bytes:
    """A client frame (masked, as clients must send them); the XOR through int keeps it fast."""
    n = len(payload)
    head = bytes([0x80 | OP_BINARY, 0x80 | 127]) + struct.pack('!Q', n)
    words = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, 'little') ^ int.from_bytes(words, 'little')).to_bytes(n, 'little')
    return head + mask + masked


def run(zero_copy: bool, messages: int, size: int, traced: bool) -> list[tuple[float, int, int]]:
    """(seconds, traced peak above the start, traced still alive) of each message."""
    server, client = socket.socketpair()
    for sock in (server, client):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MIB)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MIB)
    payload = os.urandom(size)
    frame = masked_frame(payload)
    go = [threading.Event() for _ in range(messages)]

    def send() -> None:
        for event in go:
            event.wait()
            client.sendall(frame)
    sender = threading.Thread(target=send, name='bench-sender')
    sender.start()
    frames = FrameSocket(server, max_message=64 * MIB, zero_copy=zero_copy)
    results = []
    try:
        for event in go:
            event.set()
            if traced:
                tracemalloc.reset_peak()
                start, _ = tracemalloc.get_traced_memory()
            began = time.perf_counter()
            packet = Packet(encoded_packet=frames.receive())
            took = time.perf_counter() - began
            assert packet.data == payload
            if traced:
                now, peak = tracemalloc.get_traced_memory()
                results.append((took, peak - start, now - start))
            else:
                results.append((took, 0, 0))
            del packet
    finally:
        sender.join()
        server.close()
        client.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--messages', type=int, default=300)
    parser.add_argument('--size', type=int, default=921_600, help='payload bytes (default: 640×480×3)')
    args = parser.parse_args(argv)
    print(f'python {sys.version.split()[0]}, {args.messages} messages of {args.size:,} bytes, '
          f'{os.cpu_count()} CPUs')
    print('| path | traced peak per message | alive after (the message) | median time per message |')
    print('|---|---|---|---|')
    for zero_copy in (False, True, False, True):  # alternated, twice
        tracemalloc.start()
        traced = run(zero_copy, 20, args.size, traced=True)
        tracemalloc.stop()
        timed = run(zero_copy, args.messages, args.size, traced=False)
        peak = max(p for _, p, _ in traced[1:])
        alive = max(a for _, _, a in traced[1:])
        median = statistics.median(t for t, _, _ in timed[5:])
        name = 'zero-copy (bytes filled in place)' if zero_copy else 'copying (bytearray, then bytes())'
        print(f'| {name} | {peak / MIB:.2f} MiB | {alive / MIB:.2f} MiB | {median * 1000:.3f} ms |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
