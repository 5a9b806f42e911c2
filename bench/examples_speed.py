"""Time the example trainer and annotator on devloop's generated 640x480 images (run by hand, never as a test).

    .venv/bin/python bench/examples_speed.py [--train-images 100] [--repeat 20]

Trainer: the training script's whole `train()` (fit pass, fit, evaluation on the test images) in a temporary
folder, for the demo project's 4 complete images and for `--train-images` generated ones, plus precision and
recall of the trained model on 200 fresh images. Annotator: the magic wand's click (`press`) and drag
(`move`) on a generated image, median and p90 ms over `--repeat` gestures.
"""
from __future__ import annotations

import argparse
import io
import logging
import statistics
import tempfile
import time
from pathlib import Path

from loopnode.data import Category, ModelInformation
from loopnode.devloop.seed import demo_categories, generated_images
from loopnode.examples.color_annotator.tool import WandGesture
from loopnode.examples.color_detector.accuracy import Tally, tally_image
from loopnode.examples.color_detector.colormodel import MODEL_FILE, ColorModel
from loopnode.examples.color_detector.fit import Sample, decode_rgb, demo_samples
from loopnode.examples.color_detector.logic import ColorBlobsLogic
from loopnode.examples.color_trainer.dataset import INPUT_FILE, entry_of_record, input_dict
from loopnode.examples.color_trainer.train import train
from loopnode.fsutil import atomic_write_json

log = logging.getLogger('bench.examples_speed')


def _train(count: int, seed: int) -> tuple[float, ColorModel, dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        entries = []
        for image in generated_images('zauberzeug', 'demo', demo_categories(), {'complete': count}, seed=seed):
            path = folder / f'{image.id}.jpg'
            path.write_bytes(image.jpeg)
            entries.append(entry_of_record({'set': image.image_set, **image.annotations}, str(path)))
        atomic_write_json(folder / INPUT_FILE, input_dict(demo_categories(), entries, {}))
        start = time.perf_counter()
        result = train(folder, out=io.StringIO())
        seconds = time.perf_counter() - start
        import json
        return seconds, ColorModel.from_dict(json.loads((folder / MODEL_FILE).read_text())), result


def _accuracy(model: ColorModel) -> tuple[Tally, Tally]:
    info = ModelInformation(id='b', organization='o', project='p', version='2',
                            categories=[Category.from_dict(c) for c in demo_categories()])
    logic = ColorBlobsLogic(model, info)
    boxes, points = Tally(), Tally()
    for image in generated_images('zauberzeug', 'demo', demo_categories(), {'complete': 200}, seed=9001):
        sample = Sample(decode_rgb(image.jpeg),
                        [(b['category_id'], b['x'], b['y'], b['width'], b['height'])
                         for b in image.annotations['box_annotations']],
                        [(p['category_id'], p['x'], p['y']) for p in image.annotations['point_annotations']])
        tally_image(sample, logic.evaluate(sample.image), boxes, points)
    return boxes, points


def _ms(values: list[float]) -> str:
    values = sorted(values)
    return f'median {statistics.median(values):.1f} ms, p90 {values[int(0.9 * (len(values) - 1))]:.1f} ms'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--train-images', type=int, default=100)
    parser.add_argument('--repeat', type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    for count, seed in ((4, 0), (args.train_images, 5)):
        seconds, model, result = _train(count, seed)
        boxes, points = _accuracy(model)
        log.info('trainer: %d images (%s train, %s test) in %.2f s; on 200 fresh images boxes P %.3f R %.3f, '
                 'points P %.3f R %.3f', count, result['train_images'], result['test_images'], seconds,
                 boxes.precision, boxes.recall, points.precision, points.recall)
    samples = demo_samples(demo_categories(), args.repeat, 31)
    press, move = [], []
    for sample in samples:
        _, x, y, w, h = sample.boxes[0]
        gesture = WandGesture()
        start = time.perf_counter()
        gesture.press(sample.image, x + w // 2, y + h // 2)
        press.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        gesture.move(x + w // 2 + 20, y + h // 2)
        move.append((time.perf_counter() - start) * 1000)
    log.info('magic wand on 640x480: press %s; move %s', _ms(press), _ms(move))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
