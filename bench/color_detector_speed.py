"""Time `ColorBlobsLogic.evaluate` on devloop's generated 640x480 images (run by hand, never as a test).

    .venv/bin/python bench/color_detector_speed.py [--images 100]

Fits the demo project's model on 16 images (seed 1), then evaluates `--images` other images (seed 1000) and
logs median, p90 and max milliseconds per call (the first call is a warm-up and not counted).
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time

from loopnode.examples.color_detector.fit import demo_samples, fit_color_model
from loopnode.examples.color_detector.logic import ColorBlobsLogic
from loopnode.data import ModelInformation
from loopnode.devloop.seed import demo_categories

log = logging.getLogger('bench.color_detector_speed')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    categories = demo_categories()
    model = fit_color_model(demo_samples(categories, 16, 1), categories)
    info = ModelInformation.from_dict({'id': 'bench', 'organization': 'zauberzeug', 'project': 'demo',
                                       'version': '1.1', 'categories': categories})
    logic = ColorBlobsLogic(model, info)
    samples = demo_samples(categories, args.images + 1, 1000)
    logic.evaluate(samples[0].image)
    times = []
    for sample in samples[1:]:
        start = time.perf_counter()
        logic.evaluate(sample.image)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    log.info('evaluate on %d images of 640x480: median %.1f ms, p90 %.1f ms, max %.1f ms', len(times),
             statistics.median(times), times[int(0.9 * (len(times) - 1))], times[-1])
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
