"""The colour trainer's training process: `python -m loopnode.examples.color_trainer.train --folder F [--resume]`.

Reads `F/training_input.json`, gathers fitting pixels image by image from the train (and val) images,
checkpointing to `F/checkpoint.npz` every few images, fits the `color_blobs` model, evaluates it on the test
images and writes `F/color_model.json` and `F/result.json` (confusion matrix per category). Each step prints
`progress <0..1>` on stdout, which the logic reads from the executor log. Exit code 0 on success.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Sequence, TextIO

from loopnode.data import Category, ModelInformation
from loopnode.fsutil import atomic_write_json

from ..color_detector.colormodel import MODEL_FILE, ColorModel
from ..color_detector.fit import fit_from_pixels, sample_pixels
from ..color_detector.logic import ColorBlobsLogic
from . import checkpoint
from .dataset import INPUT_FILE, TrainingInput
from .evaluate import ConfusionMatrix

log = logging.getLogger(__name__)

RESULT_FILE = 'result.json'
CHECKPOINT_EVERY = 5          # images between checkpoints (hyperparameter `checkpoint_every`)
FIT_SHARE = 0.8               # progress share of the pixel-gathering pass; evaluation takes the rest
# The smallest of a few annotated boxes overestimates the smallest box to expect: scale it down before the
# detector's minimum region area is derived from it (hyperparameter `box_area_scale`). On the demo project's
# 3 training images, 1.0 misses 4 % of the boxes of 200 fresh images, 0.4 none, with no false positive.
BOX_AREA_SCALE = 0.4


def report(out: TextIO, progress: float) -> None:
    """One progress line (`progress 0.4200`), flushed so the logic sees it at once."""
    out.write(f'progress {min(1.0, max(0.0, progress)):.4f}\n')
    out.flush()


def gather(folder: Path, data: TrainingInput, out: TextIO, resume: bool) -> checkpoint.FitState:
    """The fitting pass over the train/val images, resumable from the checkpoint."""
    images = data.in_sets('train', 'val')
    path = folder / checkpoint.CHECKPOINT_FILE
    state = (checkpoint.load(path) if resume else None) or checkpoint.FitState()
    if state.next_image:
        log.info('resuming at image %d of %d from %s', state.next_image, len(images), path.name)
    delay = float(data.hyperparameters.get('seconds_per_image', 0.0))  # lets demos and tests watch a training
    every = max(1, int(data.hyperparameters.get('checkpoint_every', CHECKPOINT_EVERY)))
    for index in range(state.next_image, len(images)):
        entry = images[index]
        for cid, parts in sample_pixels(entry.sample()).items():
            for part in parts:
                state.add_pixels(cid, part)
        for cid, _, _, w, h in entry.boxes:
            state.add_box(cid, float(w * h))
        state.next_image = index + 1
        if state.next_image % every == 0 or state.next_image == len(images):
            checkpoint.save(path, state)
        report(out, FIT_SHARE * state.next_image / max(1, len(images)))
        if delay > 0:
            time.sleep(delay)
    return state


def evaluate(model: ColorModel, data: TrainingInput, out: TextIO) -> ConfusionMatrix:
    """Confusion matrix of `model` on the test images."""
    categories = [Category.from_dict(c) for c in data.categories]
    info = ModelInformation(id='training', organization='', project='', version='training', categories=categories)
    logic = ColorBlobsLogic(model, info)
    matrix = ConfusionMatrix()
    ids = [c.id for c in model.categories if c.id is not None]
    tests = data.in_sets('test')
    for k, entry in enumerate(tests):
        sample = entry.sample()
        matrix.add(sample, logic.evaluate(sample.image), ids)
        report(out, FIT_SHARE + (1 - FIT_SHARE) * (k + 1) / len(tests))
    return matrix


def train(folder: Path, *, resume: bool = False, out: TextIO = sys.stdout) -> dict[str, object]:
    """The whole training in `folder`; returns what it writes to result.json."""
    data = TrainingInput.read(folder / INPUT_FILE)
    report(out, 0.0)
    state = gather(folder, data, out, resume)
    scale = float(data.hyperparameters.get('box_area_scale', BOX_AREA_SCALE))
    box_areas = {cid: area * scale for cid, area in state.min_box_area.items()}
    model = fit_from_pixels(data.categories, state.category_pixels(), box_areas)
    matrix = evaluate(model, data, out)
    atomic_write_json(folder / MODEL_FILE, model.to_dict())
    total = matrix.total()
    result = {'confusion_matrix': matrix.to_dict(), 'precision': total.precision, 'recall': total.recall,
              'train_images': state.next_image, 'test_images': len(data.in_sets('test'))}
    atomic_write_json(folder / RESULT_FILE, result)
    report(out, 1.0)
    log.info('trained on %d images: precision %.3f, recall %.3f on %d test images', state.next_image,
             total.precision, total.recall, result['test_images'])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m loopnode.examples.color_trainer.train',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('--folder', type=Path, required=True, help='training folder with training_input.json')
    parser.add_argument('--resume', action='store_true', help='continue from checkpoint.npz if there is one')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s', stream=sys.stdout)
    try:
        train(args.folder, resume=args.resume)
    except (OSError, ValueError) as e:
        log.error('training failed: %s', e)
        return 1
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
