"""Issue 18 and issue 10 (outbox defects): the cap policies (pure), the retry schedule (clock injected), the
resume on any successful Loop call, timed-out saves, all-or-none multi-image uploads, the shutdown cut."""
from __future__ import annotations

import random
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from loopnode.detector.outbox import OutboxBusy, OutboxRefused
from loopnode.detector.outbox.cap import cap_drops, drop_oldest, id_time, thin
from loopnode.detector.outbox.retry import BACKOFF_CAP, RetrySchedule
from loopnode.devloop import DevLoop
from tests.detector.conftest import jpeg_bytes, outbox_items
from tests.detector.test_outbox_loop import (add_fault, clear_faults, image_posts, jpeg, make_outbox, meta, running,
                                             sources)
from tests.fixtures_devloop import devloop  # noqa: F401 - fixture
from tests.helpers import until


# ---- the cap policies (pure) --------------------------------------------------------------------------------

def test_thin_keeps_an_even_spread_with_both_ends() -> None:
    """Issue 18: 100 evenly spaced items, cap 10 → 90 dropped; the oldest and newest stay; the kept gaps are
    even (none more than twice another), unlike drop_oldest, which keeps only the last 10."""
    times = [float(t) for t in range(100)]
    doomed = thin(times, 10)
    kept = [t for i, t in enumerate(times) if i not in set(doomed)]
    assert len(doomed) == 90 and kept[0] == 0 and kept[-1] == 99
    gaps = [b - a for a, b in zip(kept, kept[1:])]
    assert max(gaps) <= 2 * min(gaps)
    assert drop_oldest(100, 10) == list(range(90))


def test_thin_takes_from_the_dense_part_first() -> None:
    """A sparse old part (one item per 10 s) and a dense burst (10 per s): thinning removes burst items until
    both parts are about equally dense, so the old part survives."""
    old = [float(t) for t in range(0, 100, 10)]
    burst = [100 + i / 10 for i in range(1, 51)]
    times = old + burst
    doomed = set(thin(times, 20))
    assert all(i not in doomed for i in range(len(old)))
    assert len(doomed) == len(times) - 20


def test_thin_edge_cases() -> None:
    assert thin([1.0, 2.0], 5) == []
    assert thin([1.0, 2.0, 3.0], 0) == [0, 1, 2]
    assert thin([1.0, 2.0, 3.0], 1) == [0, 1]  # the newest stays
    assert thin([1.0, 1.0, 1.0, 1.0], 2) == [1, 2]  # equal times: the ends stay, the oldest inner goes first


def test_cap_drops_by_policy_on_ids() -> None:
    ids = ['2024-01-01_00:00:00.000000', '2024-01-01_00:00:01.000000', '2024-01-01_00:00:01.100000',
           '2024-01-01_00:00:05.000000']
    assert cap_drops(ids, ids, 3, 'drop_oldest') == ids[:1]
    assert cap_drops(ids, ids, 3, 'thin') == ids[1:2]  # the closest neighbours
    assert cap_drops(ids, ids, 4, 'thin') == []
    assert id_time(ids[1], 0) - id_time(ids[0], 0) == 1.0 and id_time('copied-by-hand', 7.0) == 7.0
    with pytest.raises(ValueError, match="unknown cap policy 'x'"):
        cap_drops(ids, ids, 1, 'x')


# ---- the retry schedule (clock injected) ------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_caps_at_60_s_and_a_loop_success_ends_it() -> None:
    """Issue 18: after many failures the backoff is at most 60 s; a successful Loop call made elsewhere ends
    the wait at once and resets the backoff (the next failure waits the base delay again)."""
    clock = FakeClock()
    schedule = RetrySchedule(5.0, BACKOFF_CAP, jitter=False, clock=clock, rng=random.Random(1))
    delays = [schedule.failed() for _ in range(10)]
    assert delays[:4] == [5.0, 10.0, 20.0, 40.0] and max(delays) == 60.0 == BACKOFF_CAP
    clock.now += 10
    assert schedule.remaining() == 50.0
    assert schedule.loop_ok() is True and schedule.remaining() == 0.0 and schedule.resumes == 1
    assert schedule.failed() == 5.0
    assert schedule.loop_ok() is True
    assert schedule.loop_ok() is False  # no wait to end


def test_retry_after_is_waited_exactly_and_not_cut_by_a_loop_success() -> None:
    """Issue 18: a 429's Retry-After is waited exactly (no jitter, no early end by a status sync); without a
    Retry-After the 429 waits the backoff."""
    clock = FakeClock()
    schedule = RetrySchedule(5.0, 60.0, clock=clock, rng=random.Random(2))
    assert schedule.rate_limited(7.5) == 7.5
    clock.now += 3
    assert schedule.loop_ok() is False and schedule.remaining() == 4.5
    clock.now += 4.5
    assert schedule.remaining() == 0.0 and schedule.loop_ok() is False
    assert 0 <= schedule.rate_limited(None) <= 5.0 and schedule.failures == 1
    schedule.succeeded()
    assert schedule.failures == 0 and schedule.remaining() == 0.0


# ---- resume on a successful Loop call (real threads, devloop) ---------------------------------------------------

@pytest.mark.timeout(60)
def test_uploader_resumes_at_once_when_another_loop_call_succeeds(tmp_path: Path, devloop: DevLoop) -> None:
    """Issue 18: uploads fail (500) and the uploader sits in a 100 s backoff; once the Loop answers again, the
    first successful call of another part of the node (here GET /api/status) makes it upload at once."""
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    outbox.uploader.schedule = RetrySchedule(100.0, 100.0, jitter=False)
    add_fault(devloop, status=500)
    with running(outbox):
        outbox.save(jpeg(1), meta('waiting'), wait=True)
        until(lambda: outbox.status_dict()['failed_attempts'] >= 1)
        assert outbox.uploader.schedule.remaining() > 90
        clear_faults(devloop)
        assert outbox.uploader.http.get('/status').status_code == 200  # e.g. the node's status sync
        until(lambda: outbox.status_dict()['uploaded'] == 1, timeout=10)  # not the 100 s backoff
    assert sources(devloop) == ['waiting'] and outbox.uploader.schedule.resumes == 1


# ---- issue 10: timed-out saves, all-or-none uploads, the shutdown cut -------------------------------------------

@pytest.mark.timeout(60)
def test_a_timed_out_explicit_save_is_never_stored_later(tmp_path: Path, devloop: DevLoop) -> None:
    """Issue 10: the saver is stuck (a stalled disk, simulated by a blocking free-space check) past the save
    timeout: the upload answers 'nothing was stored', and when the disk comes back the item is discarded,
    not stored (a client's retry would make a duplicate)."""
    release = threading.Event()

    def stalled_disk(_path: object) -> SimpleNamespace:
        release.wait(30)
        return SimpleNamespace(free=10**12)

    outbox = make_outbox(tmp_path / 'data', devloop.url, disk_usage=stalled_disk, save_timeout=0.5)
    outbox.set_mode('stopped')
    with running(outbox):
        with pytest.raises(OutboxBusy, match='did not finish within 0.5 s; nothing was stored'):
            outbox.save(jpeg(1), meta('late'), wait=True)
        release.set()
        until(lambda: outbox.saver.pending() == 0)
        outbox.save(jpeg(2), meta('retry'), wait=True)  # the client's retry
        assert [i.name for i in outbox_items(tmp_path / 'data')] == list(outbox.store.list_ids('normal'))
        assert len(outbox_items(tmp_path / 'data')) == 1
        assert outbox.status_dict()['dropped_by_class']['explicit']['refused_busy'] == 1
        outbox.set_mode('continuous_upload')
        until(lambda: outbox.status_dict()['uploaded'] == 1)
    assert sources(devloop) == ['retry']
    assert not any((tmp_path / 'data' / 'tmp').iterdir())  # no staging left behind


def test_multi_image_save_is_all_or_none_under_the_disk_guard(tmp_path: Path, devloop: DevLoop) -> None:
    """Issue 10: free space suffices for one image but not for the three of one request: the request is
    refused as a whole and nothing of it is stored; with enough space all three are stored."""
    images = [jpeg(i, size=(400, 300)) for i in range(3)]
    size_mb = sum(len(i) for i in images) / 1e6
    disk = SimpleNamespace(free=int((200 + size_mb / 2) * 1e6))
    outbox = make_outbox(tmp_path / 'data', devloop.url, disk_usage=lambda p: disk, min_free_mb=200)
    outbox.set_mode('stopped')
    with running(outbox):
        outbox.save(images[0], meta('single'), wait=True)  # one image fits
        with pytest.raises(OutboxRefused, match='below 200 MB; none of the 3 images was stored'):
            outbox.save_all(images, [meta(f'multi-{i}') for i in range(3)])
        assert len(outbox_items(tmp_path / 'data')) == 1
        disk.free = 10**12
        assert len(outbox.save_all(images, [meta(f'multi-{i}') for i in range(3)])) == 3
        assert len(outbox_items(tmp_path / 'data')) == 4


def test_rest_upload_of_several_files_is_all_or_none(node: object, devloop: DevLoop) -> None:
    """Issue 10 through the API: a 3-file POST /upload that does not fit answers 507 and stores none; the same
    request with space answers 200 with count 3."""
    outbox = node.outbox  # type: ignore[attr-defined]
    files = [jpeg_bytes(400, 300, color=(i * 40, 10, 10)) for i in range(3)]
    size_mb = sum(len(f) for f in files) / 1e6
    outbox.min_free_mb = 200
    outbox._disk_usage = lambda p: SimpleNamespace(free=int((200 + size_mb / 2) * 1e6))
    outbox.set_mode('stopped')
    url = node.url + '/upload'  # type: ignore[attr-defined]
    parts = [('files', (f'{i}.jpg', f, 'image/jpeg')) for i, f in enumerate(files)]
    r = requests.post(url, files=parts, timeout=30)
    assert r.status_code == 507
    assert r.json()['error'] == 'outbox refused: free disk space below 200 MB; none of the 3 images was stored'
    assert outbox_items(node.settings.data_folder) == []  # type: ignore[attr-defined]
    outbox._disk_usage = lambda p: SimpleNamespace(free=10**12)
    r = requests.post(url, files=parts, timeout=30)
    assert r.status_code == 200 and r.json() == {'status': 'OK', 'count': 3}
    assert len(outbox_items(node.settings.data_folder)) == 3  # type: ignore[attr-defined]


@pytest.mark.timeout(60)
def test_shutdown_cuts_an_upload_in_flight(tmp_path: Path, devloop: DevLoop) -> None:
    """Issue 10: the Loop takes 30 s to answer an upload; stopping the outbox cuts the request at once (like
    model downloads), the uploader thread ends within a few seconds and the item stays for the next start."""
    add_fault(devloop, latency_ms=30000)
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    with running(outbox):
        outbox.save(jpeg(1), meta('in-flight'), wait=True)
        until(lambda: len(image_posts(devloop)) == 1)
        for worker in outbox.workers:
            worker.stop()
        for worker in outbox.workers:
            worker.join(10)  # well before the Loop's 30 s answer
        assert not any(w.is_alive() for w in outbox.workers)
    assert len(outbox_items(tmp_path / 'data')) == 1
    assert outbox.status_dict()['uploaded'] == 0
    devloop.stop()  # ends the injected delay


def test_order_priority_then_explicit_then_autoupload() -> None:
    """Issue 18 catch-up order: priority oldest first, then explicit uploads newest first, then autoupload
    newest first; the class counts follow the index."""
    from loopnode.detector.outbox.queue import NORMAL, PRIORITY, OutboxIndex
    index = OutboxIndex()
    for i in range(1, 4):
        index.add(NORMAL, f'n{i}a')
        index.add(NORMAL, f'n{i}e', explicit=True)
        index.add(PRIORITY, f'p{i}')
    assert [r.id for r in index.next_batch(20)] == ['p1', 'p2', 'p3', 'n3e', 'n2e', 'n1e', 'n3a', 'n2a', 'n1a']
    assert index.class_counts() == {'priority': 3, 'explicit': 3, 'autoupload': 3}
    assert [r.id for r in index.autoupload()] == ['n1a', 'n2a', 'n3a']
    assert index.sync(NORMAL, ['n1a', 'n3e', 'x'], is_explicit=lambda i: i == 'x') == (1, 4)
    assert index.class_counts() == {'priority': 3, 'explicit': 2, 'autoupload': 1}
