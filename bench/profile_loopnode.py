"""Profile loopnode's detector hot paths with py-spy (sampling, attached to the running node) under bench load.

One profile per scenario (REST /detect c=1, Socket.IO detect raw, Socket.IO detect JPEG, batch_detect 8 raw).
Writes py-spy's collapsed stacks (`<scenario>.txt`, open with speedscope or flamegraph.pl) into --out and prints
the top functions by own time and by inclusive time. py-spy comes from PyPI (`make bench` puts it into
.venv-upstream, as a tool). Run by hand:

    .venv/bin/python bench/profile_loopnode.py --py-spy .venv-upstream/bin/py-spy [--seconds 8] [--out DIR]
"""
from __future__ import annotations

import argparse
import collections
import logging
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import procs
from load import SioClient, check_batch, rest_load, start_to_ready
from photo import decoded, photo_jpeg

log = logging.getLogger('bench.profile')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def summarize(path: Path, top: int) -> str:
    """Top functions by own samples and by inclusive samples from a py-spy `raw` (collapsed) file."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(' ')
        if not stack:
            continue
        count = int(count_text)
        frames = [f for f in stack.split(';') if f and not f.startswith(('process ', 'thread '))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f'{path.stem}: {total} samples', '  own time:']
    lines += [f'    {n / total:6.1%}  {f}' for f, n in own.most_common(top)]
    lines += ['  inclusive (loopnode, engine.io, socket.io, simple-websocket, werkzeug, flask, PIL, json):']
    keys = ('loopnode/', 'engineio/', 'socketio/', 'simple_websocket/', 'werkzeug/', 'flask/', 'PIL/', 'json/',
            'wsproto/', 'numpy/')
    picked = [(f, n) for f, n in inclusive.most_common() if any(k in f for k in keys)]
    lines += [f'    {n / total:6.1%}  {f}' for f, n in picked[:top]]
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--py-spy', default=str(procs.ROOT / '.venv-upstream' / 'bin' / 'py-spy'))
    parser.add_argument('--seconds', type=float, default=8.0, help='load (and sampling) per scenario')
    parser.add_argument('--rate', type=int, default=250, help='py-spy samples per second')
    parser.add_argument('--top', type=int, default=25)
    parser.add_argument('--patches', default='', help='profile loopnode with proposed patches, e.g. compactjson')
    parser.add_argument('--out', type=Path, default=None, help='folder for the collapsed stacks')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    out = args.out or Path(tempfile.mkdtemp(prefix='loopnode-profile-'))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix='loopnode-profile-work-'))
    jpeg = photo_jpeg()
    raw = decoded(jpeg)
    raw_image = {'bytes': raw.tobytes(), 'dtype': 'uint8', 'shape': list(raw.shape)}
    loop = procs.devloop(free_port(), work / 'devloop', work / 'devloop.log').start()
    node = None
    try:
        procs.wait_http(loop.url + '/api/status', proc=loop)
        data = procs.prepare_data(work / 'node', procs.fetch_model_zip(loop.url))
        node = procs.loopnode_detector(free_port(), data, int(loop.url.rsplit(':', 1)[1]), work / 'node.log',
                                       patches=args.patches)
        start_to_ready(node, jpeg)
        client = SioClient(node.url)

        def sio(event: str, payload: dict, check=None) -> None:  # type: ignore[no-untyped-def]
            deadline = time.perf_counter() + args.seconds
            kwargs = {'check': check} if check else {}
            while time.perf_counter() < deadline:
                client.round_trips(event, payload, 20, warmup=0, **kwargs)

        scenarios = {
            'rest_c1': lambda: rest_load(node.url, jpeg, 1, args.seconds),
            'sio_raw': lambda: sio('detect', {'image': raw_image, 'autoupload': 'disabled'}),
            'sio_jpeg': lambda: sio('detect', {'image': {'format': 'jpeg', 'bytes': jpeg}, 'autoupload': 'disabled'}),
            'batch8': lambda: sio('batch_detect', {'images': [raw_image] * 8, 'autoupload': 'disabled'},
                                  check_batch(8)),
        }
        for name, run_load in scenarios.items():
            target = out / f'{name}.txt'
            spy = subprocess.Popen([args.py_spy, 'record', '--pid', str(node.pid), '--rate', str(args.rate),
                                    '--duration', str(int(args.seconds)), '--format', 'raw', '--nonblocking',
                                    '--output', str(target)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.5)  # py-spy attaches
            worker = threading.Thread(target=run_load, name=f'profile-{name}')
            worker.start()
            worker.join()
            spy.wait(60)
            sys.stdout.write(summarize(target, args.top) + '\n\n')
        client.close()
    finally:
        if node is not None:
            node.stop()
        loop.stop()
    log.info('collapsed stacks in %s', out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
