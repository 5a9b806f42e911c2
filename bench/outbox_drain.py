"""Benchmark: drain rate of the detector outbox to a local devloop (issue 5; bench/RESULTS.md "Outbox drain").

Queues N (default 1000) generated 640×480 JPEGs through `Outbox.save(..., wait=True)` with uploads stopped,
then switches to `continuous_upload` and measures the time until the queue is empty and devloop holds every
image. devloop runs in its own process (`loopnode loop`) unless `--in-process` is given.

    .venv/bin/python bench/outbox_drain.py [--count 1000] [--in-process]
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from loopnode.data import ImageMetadata
from loopnode.detector.outbox import Outbox
from loopnode.devloop import DevLoop
from loopnode.devloop.imagegen import generate_image
from loopnode.loop.http import LoopHttp
from loopnode.settings import Settings

log = logging.getLogger('bench.outbox_drain')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + '/api/status', timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f'devloop at {url} did not become ready')


def received_count(url: str) -> int:
    return len(requests.get(url + '/admin/received/images', timeout=60).json()['images'])


def run(count: int, in_process: bool, workdir: Path) -> dict[str, float]:
    loop_dir = workdir / 'devloop'
    child: subprocess.Popen[bytes] | None = None
    devloop: DevLoop | None = None
    if in_process:
        devloop = DevLoop(loop_dir)
        url = devloop.start()
    else:
        port = free_port()
        env = dict(os.environ, DEVLOOP_PORT=str(port), DEVLOOP_DATA=str(loop_dir), LOG_LEVEL='WARNING')
        child = subprocess.Popen([sys.executable, '-m', 'loopnode', 'loop'], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f'http://127.0.0.1:{port}'
        wait_ready(url)
    try:
        before = received_count(url)
        settings = Settings.from_env({'DATA_FOLDER': str(workdir / 'node'), 'LOOP_HOST': url,
                                      'LOOP_ORGANIZATION': 'zauberzeug', 'LOOP_PROJECT': 'demo',
                                      'MAX_OUTBOX_SIZE': str(max(1000, count))}, node_type='detector')
        http = LoopHttp(settings)
        outbox = Outbox(settings, http)
        outbox.set_mode('stopped')
        images = [generate_image(seed, [], []).jpeg for seed in range(50)]
        for worker in outbox.workers:
            worker.start()
        try:
            started = time.monotonic()
            for i in range(count):
                outbox.save(images[i % len(images)], ImageMetadata(source=f'bench-{i}'), wait=True)
            save_s = time.monotonic() - started
            size = sum(len(images[i % len(images)]) for i in range(count))
            started = time.monotonic()
            outbox.set_mode('continuous_upload')
            while outbox.status_dict()['normal'] > 0:
                time.sleep(0.01)
            drain_s = time.monotonic() - started
            status = outbox.status_dict()
        finally:
            for worker in outbox.workers:
                worker.stop()
            for worker in outbox.workers:
                worker.join(30)
            http.close()
        arrived = received_count(url) - before
        if arrived != count or status['uploaded'] != count:
            raise RuntimeError(f'only {arrived} of {count} images arrived ({status})')
        return {'count': count, 'save_s': save_s, 'save_rate': count / save_s, 'drain_s': drain_s,
                'drain_rate': count / drain_s, 'mean_jpeg_kb': size / count / 1024,
                'requests': outbox.uploader.requests_sent}
    finally:
        if devloop is not None:
            devloop.stop()
        if child is not None:
            child.terminate()
            child.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--count', type=int, default=1000)
    parser.add_argument('--in-process', action='store_true', help='run devloop in this process (threads)')
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix='outbox-bench-') as tmp:
        result = run(args.count, args.in_process, Path(tmp))
    sys.stdout.write(
        f'machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n'
        f'devloop: {"in-process" if args.in_process else "separate process"}\n'
        f'queued {result["count"]} images of {result["mean_jpeg_kb"]:.0f} KiB (640x480) in {result["save_s"]:.2f} s '
        f'({result["save_rate"]:.0f} saves/s, fsynced)\n'
        f'drained in {result["drain_s"]:.2f} s with {result["requests"]} requests: '
        f'{result["drain_rate"]:.0f} images/s\n')


if __name__ == '__main__':
    main()
