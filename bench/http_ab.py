"""The HTTP server alone, before and after issue 19: the server of a git revision vs the working tree's.

Both servers run the same Flask app (multipart `/detect`-like route: reads a 640×480 JPEG field, answers a
small JSON) in this process; each measurement is a keep-alive `http.client` client in a subprocess, c=1 and
c=4, alternating old/new per round. Then 10,000 connect/close cycles against each (client in a subprocess).
The old server is `loopnode/service/server.py` (+ `keepalive.py`) of `--old` extracted into a temporary
package, so the figures compare servers, not the rest of the node. Run by hand, never in CI:

    .venv/bin/python bench/http_ab.py --old d29674e --rounds 5
"""
from __future__ import annotations

import argparse
import http.client
import importlib
import io
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BOUNDARY = 'benchboundary'


def client(port: int, conns: int, seconds: float, body_path: str) -> None:
    body = Path(body_path).read_bytes()
    counts = [0] * conns
    end = time.monotonic() + seconds

    def run(i: int) -> None:
        conn = http.client.HTTPConnection('127.0.0.1', port)
        while time.monotonic() < end:
            conn.request('POST', '/detect', body=body,
                         headers={'Content-Type': f'multipart/form-data; boundary={BOUNDARY}'})
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            counts[i] += 1
    threads = [threading.Thread(target=run, args=(i,), name=f'client-{i}') for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sys.stdout.write(f'{sum(counts) / seconds}\n')


def cycles(port: int, n: int) -> None:
    import socket
    started = time.monotonic()
    for _ in range(n):
        socket.create_connection(('127.0.0.1', port), timeout=30).close()
    sys.stdout.write(f'{time.monotonic() - started}\n')


def make_app() -> Any:
    from flask import Flask, jsonify, request

    app = Flask('http_ab')

    @app.post('/detect')
    def detect() -> Any:
        data = request.files['file'].read()
        box = {'category_name': 'a', 'x': 1, 'y': 2, 'width': 3, 'height': 4, 'confidence': 0.5}
        return jsonify({'box_detections': [box] * 3, 'size': len(data)})
    return app


def body_file(folder: Path) -> Path:
    from PIL import Image
    jpeg = io.BytesIO()
    Image.effect_noise((640, 480), 64).convert('RGB').save(jpeg, 'JPEG', quality=85)
    body = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            'Content-Type: image/jpeg\r\n\r\n').encode() + jpeg.getvalue() + f'\r\n--{BOUNDARY}--\r\n'.encode()
    path = folder / 'body.bin'
    path.write_bytes(body)
    return path


def old_server_class(revision: str, folder: Path) -> Any:
    package = folder / 'old_http'
    package.mkdir()
    (package / '__init__.py').write_text('')
    for name in ('server.py', 'keepalive.py'):
        text = subprocess.run(['git', 'show', f'{revision}:loopnode/service/{name}'], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        (package / name).write_text(text)
    sys.path.insert(0, str(folder))
    return importlib.import_module('old_http.server').HttpServer


def run_sub(*args: str) -> float:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--old', default='d29674e', help='git revision of the old server')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--seconds', type=float, default=2.0)
    parser.add_argument('--cycles', type=int, default=10000)
    parser.add_argument('--client', nargs=4, help=argparse.SUPPRESS)
    parser.add_argument('--cycle-client', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return client(int(args.client[0]), int(args.client[1]), float(args.client[2]), args.client[3])
    if args.cycle_client:
        return cycles(int(args.cycle_client[0]), int(args.cycle_client[1]))
    sys.path.insert(0, str(ROOT))
    from loopnode.service.server import HttpServer as New
    with tempfile.TemporaryDirectory(prefix='http-ab-') as tmp:
        folder = Path(tmp)
        body = body_file(folder)
        old_class = old_server_class(args.old, folder)
        app = make_app()
        servers = {'old': old_class(app, '127.0.0.1', 0), 'new': New(app, '127.0.0.1', 0)}
        for server in servers.values():
            server.start()
        try:
            results: dict[tuple[str, int], list[float]] = {(k, c): [] for k in servers for c in (1, 4)}
            for rnd in range(args.rounds):
                order = list(servers.items()) if rnd % 2 == 0 else list(reversed(servers.items()))
                for conns in (1, 4):
                    for name, server in order:
                        results[(name, conns)].append(run_sub('--client', str(server.port), str(conns),
                                                              str(args.seconds), str(body)))
            for conns in (1, 4):
                old, new = median(results[('old', conns)]), median(results[('new', conns)])
                print(f'REST c={conns}: old {old:.0f} req/s, new {new:.0f} req/s, new/old {new / old:.2f} '
                      f'(rounds old {sorted(round(x) for x in results[("old", conns)])}, '
                      f'new {sorted(round(x) for x in results[("new", conns)])})')
            for name, server in servers.items():
                took = run_sub('--cycle-client', str(server.port), str(args.cycles))
                print(f'{args.cycles} connect/close cycles, {name}: {took:.2f} s')
        finally:
            for server in servers.values():
                server.shutdown(1)


if __name__ == '__main__':
    main()
