"""Socket.IO round trips the way rosys makes them: python-socketio AsyncClient over aiohttp (C-accelerated masking).

A measuring tool run in `.venv-upstream` (which has aiohttp), never imported by loopnode. Reads one JSON job from
stdin: {"url", "event", "payload" (with "bytes" given as base64 under "bytes_b64"), "n", "warmup"}; prints
{"latencies_ms": [...], "errors": n}.
"""
from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from typing import Any

import socketio


def restore(value: Any) -> Any:
    """Turn {"bytes_b64": ...} back into {"bytes": b"..."} anywhere in the payload."""
    if isinstance(value, dict):
        return {('bytes' if k == 'bytes_b64' else k): (base64.b64decode(v) if k == 'bytes_b64' else restore(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [restore(v) for v in value]
    return value


def answer_ok(answer: Any, batch: int | None) -> bool:
    def one(item: Any) -> bool:
        return isinstance(item, dict) and len(item.get('box_detections', ())) == 3
    if batch is None:
        return one(answer)
    return isinstance(answer, dict) and len(answer.get('items', ())) == batch and all(map(one, answer['items']))


async def run(job: dict[str, Any]) -> dict[str, Any]:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(job['url'], socketio_path='/ws/socket.io', transports=['websocket'], wait_timeout=10)
    payload = restore(job['payload'])
    batch = len(payload['images']) if 'images' in payload else None
    try:
        for _ in range(job.get('warmup', 10)):
            await client.call(job['event'], payload, timeout=60)
        latencies, errors = [], 0
        for _ in range(job['n']):
            t0 = time.perf_counter()
            answer = await client.call(job['event'], payload, timeout=60)
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += not answer_ok(answer, batch)
    finally:
        await client.disconnect()
    return {'latencies_ms': latencies, 'errors': errors}


if __name__ == '__main__':
    sys.stdout.write(json.dumps(asyncio.run(run(json.loads(sys.stdin.read())))) + '\n')
