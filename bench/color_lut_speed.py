"""Time `evaluate` of the `color_blobs` model against its `color_blobs_lut` conversion on 640x480 images.

    .venv/bin/python bench/color_lut_speed.py [--images 100] [--bits 6]

Fits the demo project's model on 16 generated images (seed 1), converts it with the example converter's
table (`ColorLut.build`), then times both logics alternately on `--images` other images (seed 1000) after
one warm-up call each, and logs median and p90 ms per call, the speed-up of the medians and the build time.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time

from loopnode.data import ModelInformation
from loopnode.devloop.seed import demo_categories
from loopnode.examples.color_detector.fit import demo_samples, fit_color_model
from loopnode.examples.color_detector.logic import ColorBlobsLogic
from loopnode.examples.color_detector.lut import ColorLut

log = logging.getLogger('bench.color_lut_speed')


def _summary(times: list[float]) -> str:
    times = sorted(times)
    return f'median {statistics.median(times):.1f} ms, p90 {times[int(0.9 * (len(times) - 1))]:.1f} ms'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=100)
    parser.add_argument('--bits', type=int, default=6)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    categories = demo_categories()
    model = fit_color_model(demo_samples(categories, 16, 1), categories)
    info = ModelInformation.from_dict({'id': 'bench', 'organization': 'zauberzeug', 'project': 'demo',
                                       'version': '1.1', 'categories': categories})
    start = time.perf_counter()
    lut = ColorLut.build(model, args.bits)
    build_ms = (time.perf_counter() - start) * 1000
    logics = {'color_blobs': ColorBlobsLogic(model, info), 'color_blobs_lut': ColorBlobsLogic(model, info, lut)}
    samples = demo_samples(categories, args.images + 1, 1000)
    times: dict[str, list[float]] = {name: [] for name in logics}
    for logic in logics.values():
        logic.evaluate(samples[0].image)
    for sample in samples[1:]:
        for name, logic in logics.items():  # alternating, so load on the machine hits both alike
            start = time.perf_counter()
            logic.evaluate(sample.image)
            times[name].append((time.perf_counter() - start) * 1000)
    for name, values in times.items():
        log.info('%-16s evaluate on %d images of 640x480: %s', name, len(values), _summary(values))
    speedup = statistics.median(times['color_blobs']) / statistics.median(times['color_blobs_lut'])
    log.info('speed-up of the median: %.2fx; table of %d bits per channel built in %.0f ms (%d KiB)', speedup,
             args.bits, build_ms, lut.table.nbytes // 1024)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
