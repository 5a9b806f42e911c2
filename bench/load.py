"""Load generators: REST /detect with keep-alive http.client clients, Socket.IO round trips, start-to-ready."""
from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import socketio

from procs import Proc

DETECT_HEADERS = {'autoupload': 'disabled'}


def multipart(field: str, filename: str, content: bytes, content_type: str = 'image/jpeg') -> tuple[bytes, str]:
    """A multipart/form-data body with one file part, and its Content-Type header."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f'Content-Type: {content_type}\r\n\r\n').encode() + content + f'\r\n--{boundary}--\r\n'.encode()
    return body, f'multipart/form-data; boundary={boundary}'


@dataclass
class RestResult:
    requests: int
    seconds: float
    mean_ms: float
    errors: int
    reconnects: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def check_detection(payload: Any) -> bool:
    """True if `payload` is a detect answer with the fixed detection set."""
    return isinstance(payload, dict) and len(payload.get('box_detections', ())) == 3 \
        and len(payload.get('segmentation_detections', ())) == 1


def rest_load(url: str, jpeg: bytes, clients: int, duration: float, warmup: int = 5) -> RestResult:
    """`clients` threads, each with one keep-alive connection, POST /detect back to back for `duration` s."""
    parts = urlsplit(url)
    body, content_type = multipart('file', 'photo.jpg', jpeg)
    headers = dict(DETECT_HEADERS, **{'Content-Type': content_type, 'Content-Length': str(len(body))})
    start = threading.Barrier(clients + 1)
    lock = threading.Lock()
    totals = {'n': 0, 'latency': 0.0, 'errors': 0, 'reconnects': 0}
    window: dict[str, float] = {}

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        n = errors = reconnects = 0
        latency = 0.0

        def one() -> tuple[bool, float]:
            nonlocal conn, reconnects
            t0 = time.perf_counter()
            conn.request('POST', '/detect', body, headers)
            response = conn.getresponse()
            data = response.read()
            elapsed = time.perf_counter() - t0
            if response.will_close:
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                reconnects += 1
            return response.status == 200 and check_detection(json.loads(data)), elapsed

        for _ in range(warmup):
            one()
        start.wait()
        while time.perf_counter() < window['end']:
            ok, elapsed = one()
            n += 1
            latency += elapsed
            errors += not ok
        conn.close()
        with lock:
            totals['n'] += n
            totals['latency'] += latency
            totals['errors'] += errors
            totals['reconnects'] += reconnects

    threads = [threading.Thread(target=client, name=f'bench-client-{i}') for i in range(clients)]
    for thread in threads:
        thread.start()
    window['end'] = float('inf')
    start.wait()
    began = time.perf_counter()
    window['end'] = began + duration
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    n = int(totals['n'])
    return RestResult(n, seconds, totals['latency'] / n * 1000 if n else 0.0, int(totals['errors']),
                      int(totals['reconnects']))


class SioClient:
    """A python-socketio threaded Client on WebSocket at /ws/socket.io, as rosys connects."""

    def __init__(self, url: str) -> None:
        self.client = socketio.Client(reconnection=False)
        self.client.connect(url, socketio_path='/ws/socket.io', transports=['websocket'], wait_timeout=10)

    def round_trips(self, event: str, payload: dict[str, Any], n: int, warmup: int = 10,
                    check: Callable[[Any], bool] = check_detection) -> tuple[list[float], int]:
        """Latencies (ms) of `n` acknowledged calls, and how many answers were not what `check` expects."""
        for _ in range(warmup):
            self.client.call(event, payload, timeout=60)
        latencies, errors = [], 0
        for _ in range(n):
            t0 = time.perf_counter()
            answer = self.client.call(event, payload, timeout=60)
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += not check(answer)
        return latencies, errors

    def close(self) -> None:
        self.client.disconnect()


def async_round_trips(url: str, event: str, payload: dict[str, Any], n: int, warmup: int = 10
                      ) -> tuple[list[float], int]:
    """Like `SioClient.round_trips`, made by bench/sio_client_async.py (AsyncClient + aiohttp, as rosys) in
    .venv-upstream; a fresh connection per call of this function."""
    import base64
    import subprocess

    from procs import ROOT, UPSTREAM_PYTHON

    def encode(value: Any) -> Any:
        if isinstance(value, dict):
            return {('bytes_b64' if k == 'bytes' else k): (base64.b64encode(v).decode() if k == 'bytes' else encode(v))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [encode(v) for v in value]
        return value

    job = json.dumps({'url': url, 'event': event, 'payload': encode(payload), 'n': n, 'warmup': warmup})
    result = subprocess.run([str(UPSTREAM_PYTHON), str(ROOT / 'bench' / 'sio_client_async.py')], input=job,
                            capture_output=True, text=True, timeout=600, check=True)
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return answer['latencies_ms'], answer['errors']


def check_batch(size: int) -> Callable[[Any], bool]:
    return lambda answer: isinstance(answer, dict) and len(answer.get('items', ())) == size \
        and all(check_detection(item) for item in answer['items'])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float('nan')


def start_to_ready(proc: Proc, jpeg: bytes, timeout: float = 60.0) -> tuple[float | None, float]:
    """Start `proc`; seconds until GET /readyz is 200 (None if the node has no /readyz) and until a /detect works."""
    parts = urlsplit(proc.url)
    body, content_type = multipart('file', 'photo.jpg', jpeg)
    headers = dict(DETECT_HEADERS, **{'Content-Type': content_type})
    ready_at: float | None = None
    has_readyz = True
    proc.start()
    deadline = proc.started_at + timeout
    while time.perf_counter() < deadline:
        if not proc.alive():
            raise RuntimeError(f'{proc.name} exited during start:\n{proc.log_tail()}')
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        try:
            if has_readyz and ready_at is None:
                conn.request('GET', '/readyz')
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    ready_at = time.perf_counter() - proc.started_at
                elif response.status == 404:
                    has_readyz = False
            conn.request('POST', '/detect', body, headers)
            response = conn.getresponse()
            data = response.read()
            if response.status == 200 and check_detection(json.loads(data)):
                return ready_at, time.perf_counter() - proc.started_at
        except (ConnectionError, OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.005)
    raise RuntimeError(f'{proc.name} not ready within {timeout} s:\n{proc.log_tail()}')
