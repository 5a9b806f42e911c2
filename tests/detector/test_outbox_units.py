"""Unit tests of the outbox's pure parts and its store: ids, order, bisection, guard, encoding, disk layout."""
from __future__ import annotations

import io
import json
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from loopnode.detector.outbox.ids import IdSource, format_id, is_standard_id
from loopnode.detector.outbox.policy import (Answer, Verdict, batch_timeout, classify, guard_threshold_mb,
                                             refused_by_guard, upload_bisecting)
from loopnode.detector.outbox.queue import NORMAL, PRIORITY, ItemRef, OutboxCounters, OutboxIndex
from loopnode.detector.outbox.saver import (OutboxBusy, SaveQueue, SaveRequest, UnencodableImage, check_encodable,
                                            encode_jpeg)
from loopnode.detector.outbox.store import OutboxStore


def test_ids_are_upstream_format_unique_and_increasing() -> None:
    fixed = datetime(2024, 5, 1, 12, 30, 45, 123456)
    source = IdSource(lambda: fixed)
    ids = [source.next_id() for _ in range(3)]
    assert ids == ['2024-05-01_12:30:45.123456', '2024-05-01_12:30:45.123457', '2024-05-01_12:30:45.123458']
    assert all(is_standard_id(i) for i in ids)
    assert not is_standard_id('2024-05-01')


def test_ids_survive_a_clock_going_backwards() -> None:
    times = iter([datetime(2024, 5, 1, 12, 0, 1), datetime(2024, 5, 1, 12, 0, 0), datetime(2024, 5, 1, 12, 0, 2)])
    source = IdSource(lambda: next(times))
    ids = [source.next_id() for _ in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert ids[1] == '2024-05-01_12:00:01.000001'


def test_ids_unique_across_threads() -> None:
    source = IdSource()
    out: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        got = [source.next_id() for _ in range(500)]
        with lock:
            out.extend(got)
    threads = [threading.Thread(target=take, name=f'ids-{i}') for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 2000


def test_order_priority_oldest_first_then_normal_newest_first() -> None:
    index = OutboxIndex()
    for i in (3, 1, 2):
        index.add(NORMAL, f'n{i}')
        index.add(PRIORITY, f'p{i}')
    order = [(r.queue, r.id) for r in index.next_batch(10)]
    assert order == [(PRIORITY, 'p1'), (PRIORITY, 'p2'), (PRIORITY, 'p3'), (NORMAL, 'n3'), (NORMAL, 'n2'),
                     (NORMAL, 'n1')]
    assert [r.id for r in index.next_batch(4, exclude={ItemRef(PRIORITY, 'p2')})] == ['p1', 'p3', 'n3', 'n2']
    assert [r.id for r in index.oldest(NORMAL, 2)] == ['n1', 'n2']


def test_index_add_discard_sync_and_wakeup() -> None:
    woken: list[int] = []
    index = OutboxIndex(on_add=lambda: woken.append(1))
    assert index.add(NORMAL, 'a') and not index.add(NORMAL, 'a')
    assert len(woken) == 1
    assert ItemRef(NORMAL, 'a') in index
    assert index.sync(NORMAL, ['b', 'c']) == (2, 1)
    assert index.count(NORMAL) == 2 and ItemRef(NORMAL, 'a') not in index
    assert index.discard(ItemRef(NORMAL, 'b')) and not index.discard(ItemRef(NORMAL, 'b'))
    assert index.count(NORMAL) == 1


def test_sync_keeps_items_added_while_the_folder_was_listed() -> None:
    index = OutboxIndex()
    index.add(NORMAL, 'old')
    index.add(NORMAL, 'gone')
    mark = index.mark()
    listing = ['old']           # the folder was read here ...
    index.add(NORMAL, 'fresh')  # ... while the saver added an item
    assert index.sync(NORMAL, listing, mark) == (0, 1)
    assert sorted(r.id for r in index.next_batch(5)) == ['fresh', 'old']
    assert index.sync(NORMAL, ['old']) == (0, 1)  # a later rescan without a mark trusts the disk


def test_counters() -> None:
    counters = OutboxCounters()
    counters.add('uploaded', 3)
    counters.add('uploaded')
    assert counters.get('uploaded') == 4 and counters.snapshot()['dropped_cap'] == 0


@pytest.mark.parametrize('status,verdict', [(200, Verdict.OK), (204, Verdict.OK), (422, Verdict.SPLIT),
                                            (413, Verdict.SPLIT), (429, Verdict.RATE_LIMITED),
                                            (500, Verdict.RETRY), (401, Verdict.RETRY), (404, Verdict.RETRY)])
def test_classify(status: int, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_timeouts_grow_with_the_batch() -> None:
    assert batch_timeout(1) == (10.0, 60.0)
    assert batch_timeout(20)[1] > batch_timeout(10)[1] > 60.0


def _loop_refusing(bad: set[int], log: list[list[int]]):
    def send(items):
        log.append(list(items))
        return Answer(Verdict.SPLIT, '422: broken') if bad & set(items) else Answer(Verdict.OK)
    return send


def test_bisection_isolates_one_bad_item() -> None:
    log: list[list[int]] = []
    result = upload_bisecting(list(range(20)), _loop_refusing({13}, log))
    assert sorted(result.uploaded) == [i for i in range(20) if i != 13]
    assert result.rejected == [(13, '422: broken')]
    assert result.stopped is None and result.requests == len(log) <= 10


def test_bisection_with_two_bad_items_and_all_good() -> None:
    result = upload_bisecting(list(range(7)), _loop_refusing({0, 6}, []))
    assert sorted(result.uploaded) == [1, 2, 3, 4, 5] and sorted(r[0] for r in result.rejected) == [0, 6]
    assert upload_bisecting([1, 2], _loop_refusing(set(), [])).requests == 1


def test_bisection_stops_on_rate_limit_and_when_told() -> None:
    answers = iter([Answer(Verdict.SPLIT, '422'), Answer(Verdict.OK), Answer(Verdict.RATE_LIMITED, '429', 2.0)])
    result = upload_bisecting(list(range(4)), lambda items: next(answers))
    assert result.uploaded == [0, 1] and result.stopped == Answer(Verdict.RATE_LIMITED, '429', 2.0)
    calls: list[int] = []
    stopped = upload_bisecting([1, 2, 3], lambda items: calls.append(1) or Answer(Verdict.SPLIT, 'x'),
                               keep_going=lambda: False)
    assert len(calls) == 1 and stopped.uploaded == [] and stopped.rejected == []


def test_disk_guard_thresholds() -> None:
    assert guard_threshold_mb(200, False) == 200 and guard_threshold_mb(200, True) == 50
    assert guard_threshold_mb(30, True) == 30 and guard_threshold_mb(0, False) == 0
    assert refused_by_guard(100, 200, False) and not refused_by_guard(100, 200, True)
    assert refused_by_guard(40, 200, True) and not refused_by_guard(0, 0, False)


def _jpeg(color: tuple[int, int, int] = (10, 200, 30), size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new('RGB', size, color).save(out, format='JPEG', quality=75)
    return out.getvalue()


def test_jpeg_bytes_stored_as_received_png_converted() -> None:
    jpeg = _jpeg()
    assert encode_jpeg(jpeg) == jpeg
    png = io.BytesIO()
    Image.new('RGBA', (20, 10), (1, 2, 3, 4)).save(png, format='PNG')
    converted = encode_jpeg(png.getvalue())
    with Image.open(io.BytesIO(converted)) as im:
        assert im.format == 'JPEG' and im.mode == 'RGB' and im.size == (20, 10)


@pytest.mark.parametrize('shape', [(12, 16), (12, 16, 1), (12, 16, 3), (12, 16, 4)])
def test_arrays_encoded(shape: tuple[int, ...]) -> None:
    data = encode_jpeg(np.full(shape, 128, dtype=np.uint8))
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == 'JPEG' and im.size == (16, 12)


def test_unencodable_arrays() -> None:
    with pytest.raises(UnencodableImage, match='cannot store an image of dtype float32 as JPEG; send uint8'):
        check_encodable(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(UnencodableImage):
        check_encodable(np.zeros((4, 4, 2), dtype=np.uint8))


def test_save_queue_full_drops_and_counts_without_blocking() -> None:
    busy: list[int] = []
    q = SaveQueue(lambda r, j: ['x'], on_busy=lambda: busy.append(1), on_unencodable=lambda: None, size=2,
                  put_timeout=0.1)
    for _ in range(5):
        q.submit(SaveRequest([b''], [b'{}'], False), wait=False)
    assert q.pending() == 2 and len(busy) == 3
    with pytest.raises(OutboxBusy):  # the saver thread is not running
        q.submit(SaveRequest([b''], [b'{}'], False), wait=True)


def test_store_write_read_delete(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path)
    store.ensure_layout()
    ref = store.write(NORMAL, '2024-01-01_00:00:00.000001', b'\xff\xd8jpeg', b'{"tags": []}')
    assert store.list_ids(NORMAL) == [ref.id]
    folder = tmp_path / 'outbox' / 'normal' / ref.id
    assert sorted(p.name for p in folder.iterdir()) == [f'image_{ref.id}.jpg', f'image_{ref.id}.json']
    assert store.read(ref) == (b'\xff\xd8jpeg', b'{"tags": []}')
    assert list((tmp_path / 'tmp').iterdir()) == []
    assert store.delete(ref) and not store.delete(ref)
    assert store.list_ids(NORMAL) == [] and list((tmp_path / 'tmp').iterdir()) == []


def test_store_reject_keeps_at_most_100(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path)
    store.ensure_layout()
    ids = [format_id(datetime(2024, 1, 1, 0, 0, i // 60, i % 60 * 1000)) for i in range(103)]
    for item_id in ids:
        store.write(NORMAL, item_id, b'j', b'{}')
        assert store.reject(ItemRef(NORMAL, item_id), '422: bad')
    assert store.list_rejected() == ids[3:]
    reason = json.loads((tmp_path / 'outbox' / 'rejected' / ids[-1] / 'rejected.json').read_text())
    assert reason['reason'] == '422: bad' and reason['rejected_at']
    assert store.list_ids(NORMAL) == []


def test_store_cleans_only_its_own_staging_leftovers(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path)
    store.ensure_layout()
    (tmp_path / 'tmp' / '2024-01-01_00:00:00.000001').mkdir()
    (tmp_path / 'tmp' / '2024-01-01_00:00:00.000002.del').mkdir()
    (tmp_path / 'tmp' / 'download-abc.part').write_bytes(b'x')
    assert store.clean_staging() == 2
    assert [p.name for p in (tmp_path / 'tmp').iterdir()] == ['download-abc.part']


def test_store_commit_is_all_or_none_when_the_folder_fsync_fails(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing fsync of the queue folder after the renames answers "not stored" with nothing left queued, so
    the client's retry does not duplicate the items (the disk's EIO is injected)."""
    store = OutboxStore(tmp_path)
    store.ensure_layout()
    staged = [store.stage(f'2024-01-01_00:00:00.00000{i}', b'j', b'{}') for i in (1, 2)]

    def failing_fsync(folder: Path) -> None:
        raise OSError(5, 'Input/output error')
    monkeypatch.setattr('loopnode.detector.outbox.store.fsync_dir', failing_fsync)
    with pytest.raises(OSError):
        store.commit(NORMAL, staged)
    monkeypatch.undo()
    assert store.list_ids(NORMAL) == [] and not any(p.exists() for p in staged)
    assert [p.name for p in (tmp_path / 'tmp').iterdir()] == []
