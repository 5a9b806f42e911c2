"""The colour trainer's pure parts: training input, checkpoint format and resume, confusion matrix, accuracy."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from loopnode.data import BoxDetection, Category, ImageMetadata, ModelInformation
from loopnode.devloop.seed import DEMO_IMAGE_COUNTS, demo_categories, generated_images
from loopnode.examples.color_detector.colormodel import MODEL_FILE, ColorModel
from loopnode.examples.color_detector.fit import Sample, decode_rgb, sample_pixels
from loopnode.examples.color_detector.logic import ColorBlobsLogic
from loopnode.examples.color_trainer import checkpoint
from loopnode.examples.color_trainer.dataset import INPUT_FILE, TrainingInput, entry_of_record, input_dict
from loopnode.examples.color_trainer.evaluate import ConfusionMatrix
from loopnode.examples.color_trainer.train import RESULT_FILE, train
from loopnode.fsutil import atomic_write_json

BOX_ID, POINT_ID = '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a2'


def write_training(folder: Path, counts: dict[str, int], seed: int, **hyperparameters: object) -> TrainingInput:
    """Generated demo-project images as files plus the training_input.json the logic would write."""
    categories = demo_categories()
    entries = []
    for image in generated_images('zauberzeug', 'demo', categories, counts, seed=seed):
        path = folder / f'{image.id}.jpg'
        path.write_bytes(image.jpeg)
        entries.append(entry_of_record({'set': image.image_set, **image.annotations}, str(path)))
    atomic_write_json(folder / INPUT_FILE, input_dict(categories, entries, dict(hyperparameters)))
    return TrainingInput.read(folder / INPUT_FILE)


def test_trained_on_the_demo_project_it_finds_every_shape_of_200_fresh_images(tmp_path: Path) -> None:
    """Issue 14: trained on devloop's demo project (its complete images), precision and recall >= 0.95 on 200
    freshly generated test images (boxes IoU >= 0.5, points < 10 px)."""
    write_training(tmp_path, {'complete': DEMO_IMAGE_COUNTS['complete']}, seed=0)
    result = train(tmp_path, out=io.StringIO())
    assert set(result['confusion_matrix']) == {BOX_ID, POINT_ID}
    model = ColorModel.from_dict(json.loads((tmp_path / MODEL_FILE).read_text()))
    info = ModelInformation(id='m', organization='o', project='p', version='2.0',
                            categories=[Category.from_dict(c) for c in demo_categories()])
    logic = ColorBlobsLogic(model, info)
    matrix = ConfusionMatrix()
    for image in generated_images('zauberzeug', 'demo', demo_categories(), {'complete': 200}, seed=9001):
        sample = Sample(decode_rgb(image.jpeg),
                        [(b['category_id'], b['x'], b['y'], b['width'], b['height'])
                         for b in image.annotations['box_annotations']],
                        [(p['category_id'], p['x'], p['y']) for p in image.annotations['point_annotations']])
        matrix.add(sample, logic.evaluate(sample.image), [BOX_ID, POINT_ID])
    for cid, tally in matrix.tallies.items():
        assert tally.tp > 100, cid
        assert tally.precision >= 0.95 and tally.recall >= 0.95, (cid, tally)


def test_progress_lines_and_result_file(tmp_path: Path) -> None:
    """The script reports `progress x` lines from 0 to 1 and writes result.json with the confusion matrix."""
    write_training(tmp_path, {'complete': 8}, seed=3)
    out = io.StringIO()
    train(tmp_path, out=out)
    values = [float(line.split()[1]) for line in out.getvalue().splitlines() if line.startswith('progress ')]
    assert values[0] == 0.0 and values[-1] == 1.0 and values == sorted(values)
    result = json.loads((tmp_path / RESULT_FILE).read_text())
    assert result['test_images'] == 2 and result['train_images'] == 6
    assert all(set(v) == {'tp', 'fp', 'fn'} for v in result['confusion_matrix'].values())


def test_a_resumed_fit_gives_the_same_model_as_an_uninterrupted_one(tmp_path: Path) -> None:
    """Resume: a checkpoint of the first 5 images plus `--resume` gives exactly the uninterrupted model."""
    whole, cut = tmp_path / 'whole', tmp_path / 'cut'
    for folder in (whole, cut):
        folder.mkdir()
        data = write_training(folder, {'complete': 12}, seed=5)
    train(whole, out=io.StringIO())
    state = checkpoint.FitState()
    for entry in data.in_sets('train', 'val')[:5]:  # what the script checkpoints after 5 images
        for cid, parts in sample_pixels(entry.sample()).items():
            for part in parts:
                state.add_pixels(cid, part)
        for cid, _, _, w, h in entry.boxes:
            state.add_box(cid, float(w * h))
        state.next_image += 1
    checkpoint.save(cut / checkpoint.CHECKPOINT_FILE, state)
    out = io.StringIO()
    train(cut, resume=True, out=out)
    first = [float(line.split()[1]) for line in out.getvalue().splitlines()][1]
    assert first > 0.3  # started after the checkpointed images
    assert (whole / MODEL_FILE).read_text() == (cut / MODEL_FILE).read_text()


def test_checkpoint_round_trip_and_garbage(tmp_path: Path) -> None:
    """The checkpoint keeps index, pixels and box areas; an unreadable one counts as none (the fit restarts)."""
    state = checkpoint.FitState(next_image=3)
    state.add_pixels('a', np.arange(30, dtype=np.uint8).reshape(10, 3))
    state.add_pixels('a', np.ones((2, 3), dtype=np.uint8))
    state.add_box('a', 50.0)
    state.add_box('a', 20.0)
    path = tmp_path / checkpoint.CHECKPOINT_FILE
    checkpoint.save(path, state)
    back = checkpoint.load(path)
    assert back is not None and back.next_image == 3 and back.min_box_area == {'a': 20.0}
    assert np.array_equal(back.category_pixels()['a'], state.category_pixels()['a'])
    path.write_bytes(b'not a checkpoint')
    assert checkpoint.load(path) is None
    assert checkpoint.load(tmp_path / 'missing.npz') is None


def test_confusion_matrix_counts_per_category() -> None:
    """A hit, a box of the wrong category (fp for it, fn for the other) and a miss, counted per category."""
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    sample = Sample(image, [('a', 10, 10, 20, 20), ('b', 50, 50, 20, 20)], [])
    result = ImageMetadata(box_detections=[
        BoxDetection(category_name='a', category_id='a', x=11, y=10, width=20, height=20, model_name='1',
                     confidence=0.9),
        BoxDetection(category_name='a', category_id='a', x=50, y=50, width=20, height=20, model_name='1',
                     confidence=0.9)])
    matrix = ConfusionMatrix()
    matrix.add(sample, result, ['a', 'b'])
    assert matrix.to_dict() == {'a': {'tp': 1, 'fp': 1, 'fn': 0}, 'b': {'tp': 0, 'fp': 0, 'fn': 1}}


def test_training_input_must_have_images_and_categories(tmp_path: Path) -> None:
    """A training_input.json without the two lists is refused with the file named."""
    (tmp_path / INPUT_FILE).write_text('{"images": {}}')
    with pytest.raises(ValueError, match=INPUT_FILE):
        TrainingInput.read(tmp_path / INPUT_FILE)
