"""ModelSlot: states, per-logic inference lock, one-step swap, retirement after the call in flight (§7.5, §7.9)."""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from loopnode.data import ImageMetadata, ImagesMetadata, ModelInformation
from loopnode.detector.models.slot import ModelNotReady, ModelSlot
from tests.helpers import until

IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)


def info(version: str) -> ModelInformation:
    return ModelInformation(id=f'id-{version}', organization='o', project='p', version=version)


class Logic:
    """Records calls; `gate` (if set) blocks evaluate until released; counts overlapping calls."""

    def __init__(self, name: str, gate: threading.Event | None = None) -> None:
        self.name = name
        self.gate = gate
        self.entered = threading.Event()
        self.closed = threading.Event()
        self.calls = 0
        self.inside = 0
        self.max_inside = 0
        self.closed_while_inside = False
        self._count = threading.Lock()

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        with self._count:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        with self._count:
            self.inside -= 1
            self.calls += 1
        return ImageMetadata(tags=[self.name])

    def close(self) -> None:
        self.closed_while_inside = self.inside > 0
        self.closed.set()


def test_initializing_refuses() -> None:
    slot = ModelSlot()
    assert slot.state == 'initializing' and slot.active_info is None and slot.updating_version is None
    with pytest.raises(ModelNotReady, match='^detector not yet initialized$'):
        slot.check_ready()
    with pytest.raises(ModelNotReady, match='^detector not yet initialized$'):
        slot.evaluate(IMAGE)


def test_activate_and_evaluate() -> None:
    slot = ModelSlot()
    logic = Logic('a')
    slot.activate(logic, info('1.0'))
    slot.check_ready()
    metadata, model_info = slot.evaluate(IMAGE)
    assert metadata.tags == ['a'] and model_info.version == '1.0'
    assert slot.state == 'active' and slot.active_version == '1.0'


def test_one_inference_at_a_time_per_logic() -> None:
    slot = ModelSlot()
    logic = Logic('a')
    slot.activate(logic, info('1.0'))
    threads = [threading.Thread(target=lambda: [slot.evaluate(IMAGE) for _ in range(50)], name=f'c{i}')
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert logic.calls == 400 and logic.max_inside == 1


def test_swap_serves_new_logic_while_old_finishes() -> None:
    """§7.5 default: the new logic serves at once; the old one is closed only after its call in flight."""
    slot = ModelSlot()
    gate = threading.Event()
    old = Logic('old', gate)
    slot.activate(old, info('1.0'))
    results: list[Any] = []
    in_flight = threading.Thread(target=lambda: results.append(slot.evaluate(IMAGE)), name='in-flight')
    in_flight.start()
    until(old.entered.is_set)
    new = Logic('new')
    swapper = threading.Thread(target=slot.activate, args=(new, info('1.1')), name='swapper')
    swapper.start()
    until(lambda: slot.active_version == '1.1')
    metadata, model_info = slot.evaluate(IMAGE)  # served by the new logic while the old is still busy
    assert metadata.tags == ['new'] and model_info.version == '1.1'
    assert not old.closed.is_set()
    gate.set()
    in_flight.join()
    swapper.join()
    assert results[0][0].tags == ['old'] and results[0][1].version == '1.0'
    assert old.closed.is_set() and not old.closed_while_inside


def test_request_waiting_on_a_retired_logic_moves_to_the_new_one() -> None:
    slot = ModelSlot()
    gate = threading.Event()
    old = Logic('old', gate)
    slot.activate(old, info('1.0'))
    first = threading.Thread(target=slot.evaluate, args=(IMAGE,), name='first')
    first.start()
    until(old.entered.is_set)
    results: list[Any] = []
    second = threading.Thread(target=lambda: results.append(slot.evaluate(IMAGE)), name='second')
    second.start()  # waits on the old logic's lock
    until(lambda: second.is_alive())
    swapper = threading.Thread(target=slot.activate, args=(Logic('new'), info('1.1')), name='swapper')
    swapper.start()
    gate.set()
    for t in (first, second, swapper):
        t.join()
    assert results[0][0].tags in (['old'], ['new'])
    assert old.calls in (1, 2)


def test_exclusive_update_states() -> None:
    """§7.5 exclusive: waits for the call in flight, Updating(v) refuses, end_update without logic → Initializing."""
    slot = ModelSlot()
    gate = threading.Event()
    old = Logic('old', gate)
    slot.activate(old, info('1.0'))
    in_flight = threading.Thread(target=slot.evaluate, args=(IMAGE,), name='in-flight')
    in_flight.start()
    until(old.entered.is_set)
    updater = threading.Thread(target=slot.begin_update, args=('1.1',), name='updater')
    updater.start()
    assert slot.state == 'active'  # still waiting for the call in flight
    gate.set()
    updater.join()
    in_flight.join()
    assert old.closed.is_set() and not old.closed_while_inside
    assert slot.state == 'updating' and slot.updating_version == '1.1'
    with pytest.raises(ModelNotReady, match='^updating model to version 1.1$'):
        slot.check_ready()
    with pytest.raises(ModelNotReady, match='^updating model to version 1.1$'):
        slot.evaluate(IMAGE)
    slot.set_updating('1.0')
    assert slot.updating_version == '1.0'
    slot.end_update()
    assert slot.state == 'initializing'
    slot.activate(Logic('new'), info('1.1'))
    assert slot.state == 'active' and slot.updating_version is None


def test_batch_evaluate_variants() -> None:
    """F28 (slot part): no batch method / NotImplementedError → per-image evaluate in order; ImagesMetadata accepted."""
    slot = ModelSlot()

    class Numbered(Logic):
        def evaluate(self, image: np.ndarray) -> ImageMetadata:
            return ImageMetadata(tags=[str(int(image[0, 0, 0]))])

    class NoBatch(Numbered):
        def batch_evaluate(self, images: list[np.ndarray]) -> ImagesMetadata:
            raise NotImplementedError

    class Batch(Numbered):
        def batch_evaluate(self, images: list[np.ndarray]) -> ImagesMetadata:
            return ImagesMetadata(items=[ImageMetadata(tags=['b' + str(int(i[0, 0, 0]))]) for i in images])

    images = [np.full((2, 2, 3), i, dtype=np.uint8) for i in range(3)]
    for logic, expected in ((Numbered('n'), ['0', '1', '2']), (NoBatch('n'), ['0', '1', '2']),
                            (Batch('b'), ['b0', 'b1', 'b2'])):
        slot.activate(logic, info('1.0'))
        items, model_info = slot.batch_evaluate(images)
        assert [m.tags[0] for m in items] == expected and model_info.version == '1.0'


def test_logic_errors_pass_through_and_close_errors_are_contained() -> None:
    class Broken:
        def evaluate(self, image: np.ndarray) -> ImageMetadata:
            raise RuntimeError('boom')

        def close(self) -> None:
            raise RuntimeError('close failed')

    slot = ModelSlot()
    slot.activate(Broken(), info('1.0'))
    with pytest.raises(RuntimeError, match='boom'):
        slot.evaluate(IMAGE)
    slot.clear()
    assert slot.state == 'initializing'
