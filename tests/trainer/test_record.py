"""Training record persistence (trainer.md §4)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from loopnode.data import Category, Context
from loopnode.trainer.record import RecordFile, Training
from loopnode.trainer.steps import State


def make_training(folder: Path, state: State = State.TrainModelDownloaded) -> Training:
    return Training(id='t-1', context=Context(organization='zauberzeug', project='demo'),
                    project_folder=str(folder), images_folder=str(folder / 'images'),
                    training_folder=str(folder / 'trainings' / 't-1'),
                    categories=[Category(id='c1', name='box', type='box')], hyperparameters={'epochs': 3},
                    training_number=7, model_variant='small', start_time=time.time(), training_state=state,
                    base_model_uuid=None, image_data=[{'id': 'a', 'set': 'train'}, {'id': 'b', 'set': 'test'}],
                    skipped_image_count=1)


def test_round_trip(tmp_path: Path) -> None:
    """T1: a Training record round-trips through the last-training file with its state."""
    record = RecordFile(tmp_path, 'node-uuid')
    training = make_training(tmp_path)
    record.save(training)
    assert record.path.name == 'last_training__node-uuid.json'
    loaded = record.load()
    assert loaded == training
    assert loaded.training_state is State.TrainModelDownloaded
    stored = json.loads(record.path.read_text())
    assert set(stored) >= {'id', 'context', 'project_folder', 'images_folder', 'training_folder', 'categories',
                           'hyperparameters', 'training_number', 'training_state', 'model_variant', 'start_time',
                           'base_model_uuid', 'image_data', 'skipped_image_count', 'model_uuid_for_detecting'}
    assert loaded.val_images() == [{'id': 'b', 'set': 'test'}]  # no val set: the test images


def test_transient_state_on_disk_resumes_at_start(tmp_path: Path) -> None:
    record = RecordFile(tmp_path, 'u')
    record.save(make_training(tmp_path, State.TrainingRunning))
    assert record.load().training_state is State.TrainModelDownloaded


def test_corrupt_file_is_renamed_aside(tmp_path: Path) -> None:
    """TF7 (unit part): a corrupt file is renamed `.corrupt-…` and load returns None."""
    record = RecordFile(tmp_path, 'u')
    record.path.write_text('{"id": 3')
    assert record.load() is None
    assert not record.path.exists()
    assert len(list(tmp_path.glob('last_training__u.json.corrupt-*'))) == 1
    record.path.write_text(json.dumps({'id': 'x', 'training_state': 'no such state'}))
    assert record.load() is None


def test_unknown_keys_survive(tmp_path: Path) -> None:
    record = RecordFile(tmp_path, 'u')
    data = make_training(tmp_path).to_dict() | {'upstream_extra': 5}
    record.path.write_text(json.dumps(data))
    loaded = record.load()
    record.save(loaded)
    assert json.loads(record.path.read_text())['upstream_extra'] == 5
