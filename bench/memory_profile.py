"""Where a `batch_detect` message lives in loopnode's detector: tracemalloc at the peak (issue 16).

    .venv/bin/python bench/memory_profile.py [--calls 30] [--out DIR] [--loopnode-env K=V,...]

Starts devloop and loopnode's detector under bench/traced_loopnode.py; per round (`--rounds`) REST /detect
(`--rest-seconds`), 100 raw and 100 JPEG `detect` calls and `--calls` batches of 8 raw 640×480 frames (7.4 MB
each) with python-socketio's threaded Client, then prints the
live blocks at the traced peak by allocation site, and the RSS before and after (tracemalloc itself costs RSS
and time: compare RSS only between runs of this script).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import procs
from load import SioClient, check_batch, rest_load
from photo import decoded, photo_jpeg
from run_bench import free_port

log = logging.getLogger('bench.memory')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--calls', type=int, default=30, help='batch_detect calls of 8 raw frames')
    parser.add_argument('--rounds', type=int, default=1, help='rounds of the mix (REST c=1 and c=4, raw, JPEG, batch)')
    parser.add_argument('--rest-seconds', type=float, default=0.0, help='REST /detect load per round (0: none)')
    parser.add_argument('--out', type=Path, default=None, help='folder for peak.txt and now.txt (default: temporary)')
    parser.add_argument('--loopnode-env', default='', help='extra environment for loopnode, KEY=VALUE,...')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    work = Path(tempfile.mkdtemp(prefix='loopnode-memory-'))
    out = args.out or work / 'out'
    loop = procs.devloop(free_port(), work / 'devloop', work / 'devloop.log').start()
    try:
        procs.wait_http(loop.url + '/api/status', proc=loop)
        data = procs.prepare_data(work / 'node', procs.fetch_model_zip(loop.url))
        extra = dict(item.split('=', 1) for item in args.loopnode_env.split(',') if item)
        node = procs.loopnode_detector(free_port(), data, int(loop.url.rsplit(':', 1)[1]), work / 'node.log',
                                       extra_env=extra)
        node.argv[1:3] = [str(procs.ROOT / 'bench' / 'traced_loopnode.py'), '--out', str(out)]
        node.start()
        try:
            profile(node, args, out)
        finally:
            node.stop()
    finally:
        loop.stop()
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def profile(node: procs.Proc, args: argparse.Namespace, out: Path) -> None:
    """Drive the load, ask the traced node for its report (SIGUSR1) and print it."""
    procs.wait_http(node.url + '/readyz', timeout=120, proc=node)
    time.sleep(2)
    idle = procs.rss_mib(node.pid)
    jpeg = photo_jpeg()
    raw = decoded(jpeg)
    image = {'bytes': raw.tobytes(), 'dtype': 'uint8', 'shape': list(raw.shape)}
    for _ in range(args.rounds):
        if args.rest_seconds:
            rest_load(node.url, jpeg, 1, args.rest_seconds)
            rest_load(node.url, jpeg, 4, args.rest_seconds)
        client = SioClient(node.url)
        try:
            client.round_trips('detect', {'image': image, 'autoupload': 'disabled'}, 100)
            client.round_trips('detect', {'image': {'format': 'jpeg', 'bytes': jpeg}, 'autoupload': 'disabled'},
                               100)
            client.round_trips('batch_detect', {'images': [image] * 8, 'autoupload': 'disabled'}, args.calls,
                               warmup=2, check=check_batch(8))
        finally:
            client.close()
        log.info('round done: RSS %.1f MiB', procs.rss_mib(node.pid))
    time.sleep(1)
    after = procs.rss_mib(node.pid)
    assert node.process is not None
    node.process.send_signal(signal.SIGUSR1)
    time.sleep(2)
    node.stop()
    sys.stdout.write((out / 'peak.txt').read_text() + '\n')
    sys.stdout.write(f'RSS idle {idle:.1f} MiB, after the load {after:.1f} MiB (under tracemalloc)\n')


if __name__ == '__main__':
    sys.exit(main())
