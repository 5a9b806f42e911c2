"""Benchmark: server time of devloop's image grid for a project with 5,000 images (issue 15; bench/RESULTS.md
"devloop pages").

Seeds an in-process devloop (seed `empty`) with one project of N images (default 5,000; 50 distinct generated
640×480 JPEGs with their box and point annotations, repeated under new ids), then requests pages of the grid
and the dashboard and reads the server time from the `Server-Timing: app;dur=<ms>` header the pages send.

    .venv/bin/python bench/pages_first_page.py [--images 5000] [--rounds 30]
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import requests

from loopnode.devloop import DevLoop
from loopnode.devloop.seed import generated_categories, generated_images
from loopnode.devloop.store import NewImage

ORG, PROJECT = 'bench', 'pages5000'
DISTINCT = 50
BATCH = 250


def seed(loop: DevLoop, count: int) -> float:
    """Add the project with `count` images; returns the seconds it took."""
    started = time.perf_counter()
    store = loop.store
    categories = generated_categories(ORG, PROJECT, boxes=2, points=1, segmentations=0)
    store.add_project(ORG, PROJECT, categories)
    base = generated_images(ORG, PROJECT, categories, {'complete': DISTINCT}, seed=7)
    batch: list[NewImage] = []
    for n in range(count):
        template = base[n % DISTINCT]
        image_id = str(uuid.uuid4())
        annotations = {key: [dict(a, id=str(uuid.uuid4()), image_id=image_id) for a in value]
                       if isinstance(value, list) else value for key, value in template.annotations.items()}
        batch.append(dataclasses.replace(template, id=image_id, annotations=annotations))
        if len(batch) == BATCH:
            store.add_images(ORG, PROJECT, batch)
            batch = []
    if batch:
        store.add_images(ORG, PROJECT, batch)
    return time.perf_counter() - started


def server_ms(session: requests.Session, url: str) -> tuple[float, float, int]:
    """(server ms from Server-Timing, client ms, body bytes) of one GET."""
    started = time.perf_counter()
    response = session.get(url, timeout=30)
    client = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    timing = response.headers['Server-Timing']
    return float(timing.split('dur=')[1]), client, len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=5000)
    parser.add_argument('--rounds', type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix='bench-pages-') as folder:
        loop = DevLoop(Path(folder), seed='empty')
        loop.start()
        try:
            seconds = seed(loop, args.images)
            print(f'seeded {args.images} images in {seconds:.1f} s')
            grid = f'{loop.url}/ui/{ORG}/{PROJECT}/images'
            pages = {'grid page 1 (all states)': grid, 'grid page 1 (state complete)': grid + '?state=complete',
                     'grid page 100 (last)': grid + f'?page={-(-args.images // 50)}', 'dashboard /': loop.url + '/',
                     'project page': f'{loop.url}/ui/{ORG}/{PROJECT}/'}
            with requests.Session() as session:
                for name, url in pages.items():
                    first = server_ms(session, url)
                    runs = [server_ms(session, url) for _ in range(args.rounds)]
                    server = sorted(r[0] for r in runs)
                    p95 = server[max(0, round(0.95 * len(server)) - 1)]
                    print(f'| {name} | {first[0]:.1f} | {statistics.median(server):.1f} | {p95:.1f} | '
                          f'{max(server):.1f} | {statistics.median(r[1] for r in runs):.1f} | {first[2] / 1024:.0f} |')
        finally:
            loop.stop()
    print(f'machine: {platform.platform()}, {platform.python_version()}')


if __name__ == '__main__':
    main()
