"""`make bench-soak` (issue 16, by hand): loopnode's detector under 10 minutes of mixed REST and Socket.IO traffic.

    .venv/bin/python bench/soak.py [--minutes 10] [--sample 10]

devloop and loopnode's detector (as in run_bench.py) run; one thread posts the JPEG to REST /detect back to
back (keep-alive), another sends over one Socket.IO connection, in turn, 20 raw and 20 JPEG `detect` calls and
2 batches of 8 raw frames, with `autoupload: filtered` on every tenth call so the outbox works too. The RSS is
sampled every `--sample` s; after the first minute (warm-up) it must stay within ±10 % of its median.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import procs
from load import SioClient, check_batch, rest_load
from photo import decoded, photo_jpeg
from run_bench import free_port

log = logging.getLogger('bench.soak')
WARMUP_SECONDS = 60.0


def socketio_mix(url: str, stop: threading.Event, counts: dict[str, int]) -> None:
    jpeg = photo_jpeg()
    raw = decoded(jpeg)
    image = {'bytes': raw.tobytes(), 'dtype': 'uint8', 'shape': list(raw.shape)}
    client = SioClient(url)
    try:
        i = 0
        while not stop.is_set():
            upload = 'filtered' if i % 10 == 0 else 'disabled'
            for payload, n in (({'image': image, 'autoupload': upload}, 20),
                               ({'image': {'format': 'jpeg', 'bytes': jpeg}, 'autoupload': upload}, 20)):
                _, errors = client.round_trips('detect', payload, n, warmup=0)
                counts['sio'] += n
                counts['errors'] += errors
            _, errors = client.round_trips('batch_detect', {'images': [image] * 8, 'autoupload': 'disabled'}, 2,
                                           warmup=0, check=check_batch(8))
            counts['sio'] += 2
            counts['errors'] += errors
            i += 1
    finally:
        client.close()


def rest_mix(url: str, stop: threading.Event, counts: dict[str, int]) -> None:
    jpeg = photo_jpeg()
    while not stop.is_set():
        result = rest_load(url, jpeg, 1, 5.0, warmup=0)
        counts['rest'] += result.requests
        counts['errors'] += result.errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--sample', type=float, default=10.0, help='seconds between RSS samples')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    work = Path(tempfile.mkdtemp(prefix='loopnode-soak-'))
    loop = procs.devloop(free_port(), work / 'devloop', work / 'devloop.log').start()
    samples: list[tuple[float, float]] = []
    counts = {'rest': 0, 'sio': 0, 'errors': 0}
    try:
        procs.wait_http(loop.url + '/api/status', proc=loop)
        data = procs.prepare_data(work / 'node', procs.fetch_model_zip(loop.url))
        node = procs.loopnode_detector(free_port(), data, int(loop.url.rsplit(':', 1)[1]), work / 'node.log').start()
        try:
            procs.wait_http(node.url + '/readyz', proc=node)
            idle = procs.rss_mib(node.pid)
            stop = threading.Event()
            threads = [threading.Thread(target=fn, args=(node.url, stop, counts), name=f'soak-{fn.__name__}')
                       for fn in (rest_mix, socketio_mix)]
            for thread in threads:
                thread.start()
            began = time.monotonic()
            try:
                while time.monotonic() - began < args.minutes * 60:
                    time.sleep(args.sample)
                    samples.append((time.monotonic() - began, procs.rss_mib(node.pid)))
                    log.info('%4.0f s: RSS %.1f MiB, %s', samples[-1][0], samples[-1][1], counts)
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
        finally:
            node.stop()
    finally:
        loop.stop()
        shutil.rmtree(work, ignore_errors=True)
    steady = [rss for t, rss in samples if t >= WARMUP_SECONDS] or [rss for _, rss in samples]
    mid = statistics.median(steady)
    low, high = min(steady) / mid - 1, max(steady) / mid - 1
    flat = -0.10 <= low and high <= 0.10
    sys.stdout.write(f'idle {idle:.1f} MiB; after warm-up: median {mid:.1f} MiB, min {min(steady):.1f} ({low:+.1%}), '
                     f'max {max(steady):.1f} ({high:+.1%}) over {len(steady)} samples; '
                     f'{counts["rest"]} REST and {counts["sio"]} Socket.IO calls, {counts["errors"]} wrong answers; '
                     f'flat within ±10 %: {"yes" if flat else "NO"}\n')
    return 0 if flat else 1


if __name__ == '__main__':
    sys.exit(main())
