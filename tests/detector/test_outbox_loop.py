"""Outbox against a real devloop over loopback: uploads, order, outages, 429, 422 bisection, backoff, discovery.

Helpers here (`make_outbox`, `running`, `received`, ...) are also used by the other outbox test modules.
"""
from __future__ import annotations

import io
import json
import subprocess
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import requests
from PIL import Image

from loopnode.data import ImageMetadata
from loopnode.detector.outbox import Outbox
from loopnode.devloop import DevLoop
from loopnode.loop.http import LoopHttp
from loopnode.settings import Settings
from tests.fixtures_devloop import devloop  # noqa: F401 - fixture
from tests.helpers import until

IMAGES_PATH = '/api/*/projects/*/images'


def settings_for(data: Path, loop_url: str, **extra: str) -> Settings:
    env = {'DATA_FOLDER': str(data), 'LOOP_HOST': loop_url, 'LOOP_ORGANIZATION': 'zauberzeug',
           'LOOP_PROJECT': 'demo', 'NODE_PORT': '0', **extra}
    return Settings.from_env(env, node_type='detector')


def make_outbox(data: Path, loop_url: str, **kw: Any) -> Outbox:
    """An Outbox with test-sized waits (backoff 0.2 s → 1.6 s, settle 0.2 s) unless overridden."""
    kw.setdefault('backoff_base', 0.2)
    kw.setdefault('backoff_cap', 1.6)
    kw.setdefault('settle_time', 0.2)
    settings = settings_for(data, loop_url)
    return Outbox(settings, LoopHttp(settings), **kw)


@contextmanager
def running(outbox: Outbox) -> Iterator[Outbox]:
    """Start the three outbox threads; stop and join them afterwards."""
    for worker in outbox.workers:
        worker.start()
    try:
        yield outbox
    finally:
        for worker in outbox.workers:
            worker.stop()
        for worker in outbox.workers:
            worker.join(30)
        outbox.uploader.http.close()


def jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(out, format='JPEG')
    return out.getvalue()


def meta(source: str, **kw: Any) -> ImageMetadata:
    return ImageMetadata(source=source, tags=['test'], **kw)


def received(loop: DevLoop) -> list[dict[str, Any]]:
    r = requests.get(loop.url + '/admin/received/images', timeout=10)
    r.raise_for_status()
    return r.json()['images']


def sources(loop: DevLoop) -> list[str]:
    return [image['metadata'].get('source') for image in received(loop)]


def add_fault(loop: DevLoop, **rule: Any) -> int:
    rule.setdefault('match', {'method': 'POST', 'path': IMAGES_PATH})
    r = requests.post(loop.url + '/admin/faults', json=rule, timeout=10)
    r.raise_for_status()
    return r.json()['id']


def clear_faults(loop: DevLoop) -> None:
    requests.delete(loop.url + '/admin/faults', timeout=10).raise_for_status()


def image_posts(loop: DevLoop) -> list[dict[str, Any]]:
    entries = requests.get(loop.url + '/admin/requests', timeout=10).json()['requests']
    return [e for e in entries if e['method'] == 'POST' and e['path'].endswith('/images')]


def entry_time(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry['time']).timestamp()


def write_upstream_item(folder: Path, item_id: str, source: str, *, with_jpg: bool = True) -> None:
    """An item as upstream learning_loop_node writes it: `<queue>/<id>/image_<id>.{jpg,json}`."""
    (folder / item_id).mkdir(parents=True)
    (folder / item_id / f'image_{item_id}.json').write_text(json.dumps(meta(source).to_dict()))
    if with_jpg:
        (folder / item_id / f'image_{item_id}.jpg').write_bytes(jpeg(hash(source) % 1000))


def save_all(outbox: Outbox, n: int, prefix: str = 'item', priority: bool = False) -> list[str]:
    names = [f'{prefix}-{i}' for i in range(n)]
    for i, name in enumerate(names):
        outbox.save(jpeg(i), meta(name), priority, wait=True)
    return names


def index_matches_disk(outbox: Outbox) -> bool:
    indexed = {(r.queue, r.id) for r in outbox.index.iter_order(10 ** 9)}
    return indexed == {(q, i) for q in ('normal', 'priority') for i in outbox.store.list_ids(q)}


def save_auto(outbox: Outbox, n: int, prefix: str = 'auto', start: int = 0) -> list[str]:
    """Autoupload saves (no waiting), paced so the 64-entry save queue never overflows; waits until stored."""
    names = [f'{prefix}-{i}' for i in range(start, start + n)]
    before = outbox.index.count_autoupload() + outbox.counters.get('dropped_cap')
    for i, name in enumerate(names):
        outbox.save(jpeg(i), meta(name))
        if i % 32 == 31:
            until(lambda: outbox.saver.pending() == 0)
    until(lambda: outbox.index.count_autoupload() + outbox.counters.get('dropped_cap') == before + n)
    until(lambda: index_matches_disk(outbox), message='index == folders (watcher events arrive ~0.5 s late)')
    assert outbox.counters.get('dropped_busy') == 0
    return names


# ---- tests --------------------------------------------------------------------------------------------------

def test_saved_items_upload_with_their_metadata_and_bytes(tmp_path: Path, devloop: DevLoop) -> None:
    """D4/D5 storage side: one save → one item (.jpg + .json) in outbox/normal, then uploaded and deleted."""
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    outbox.set_mode('stopped')
    with running(outbox):
        data = jpeg(7)
        outbox.save(data, meta('one', state='trash'), wait=True)
        [item] = list((tmp_path / 'data' / 'outbox' / 'normal').iterdir())
        assert sorted(p.name for p in item.iterdir()) == ['.explicit', f'image_{item.name}.jpg',
                                                         f'image_{item.name}.json']  # explicit-upload marker
        assert (item / f'image_{item.name}.jpg').read_bytes() == data
        outbox.set_mode('continuous_upload')
        until(lambda: outbox.status_dict()['normal'] == 0 and len(received(devloop)) == 1)
    [image] = received(devloop)
    assert image['state'] == 'trash' and image['name'] == f'image_{item.name}'
    got = requests.get(image['file_url'], timeout=10).content
    assert got == data
    assert outbox.status_dict()['uploaded'] == 1 and not item.exists()


def test_status_dict_has_exactly_the_spec_keys(tmp_path: Path, devloop: DevLoop) -> None:
    """detector.md §2.5: the `outbox` object of /status."""
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    assert list(outbox.status_dict()) == ['mode', 'normal', 'priority', 'rejected', 'uploaded', 'dropped_cap',
                                          'refused_disk', 'rejected_422', 'rejected_incomplete',
                                          'skipped_unencodable', 'dropped_busy', 'failed_attempts', 'last_error',
                                          'free_mb', 'backlog', 'dropped_by_class', 'drain_rate',
                                          'drain_estimate_s']  # the last four: issue 18 additions


def test_upstream_items_before_start_upload_in_spec_order(tmp_path: Path, devloop: DevLoop) -> None:
    """F25: items in upstream's layout found at start upload priority oldest first, then normal newest first."""
    root = tmp_path / 'data' / 'outbox'
    for i in range(3):
        write_upstream_item(root / 'normal', f'2024-01-01_00:00:0{i}.000000', f'n{i}')
        write_upstream_item(root / 'priority', f'2024-01-01_00:00:0{5 + i}.000000', f'p{i}')
    (root / '2024-01-01_00:00:09.000000').mkdir()  # pre-0.14 flat layout: ignored
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    assert outbox.status_dict()['normal'] == 3 and outbox.status_dict()['priority'] == 3
    with running(outbox):
        until(lambda: len(received(devloop)) == 6)
    assert sources(devloop) == ['p0', 'p1', 'p2', 'n2', 'n1', 'n0']


def test_order_survives_restart_across_batches(tmp_path: Path, devloop: DevLoop) -> None:
    """F25: 25 normal + 2 priority saved by one Outbox, uploaded by a new one: arrival order by id (§9.4)."""
    first = make_outbox(tmp_path / 'data', devloop.url)
    first.set_mode('stopped')
    with running(first):
        normal = save_all(first, 25, 'n')
        prio = save_all(first, 2, 'p', priority=True)
    second = make_outbox(tmp_path / 'data', devloop.url)
    with running(second):
        until(lambda: len(received(devloop)) == 27)
    assert sources(devloop) == prio + normal[::-1]


def test_loop_down_then_back_every_item_arrives_once(tmp_path: Path, devloop: DevLoop) -> None:
    """Loop down for a while (server stopped), then back on the same port: every item arrives exactly once."""
    port = devloop.port
    devloop.stop()
    outbox = make_outbox(tmp_path / 'data', f'http://127.0.0.1:{port}')
    with running(outbox):
        names = save_all(outbox, 30)
        until(lambda: outbox.status_dict()['failed_attempts'] >= 3, timeout=15)
        status = outbox.status_dict()
        assert status['normal'] == 30 and status['uploaded'] == 0
        assert 'ConnectionError' in status['last_error']
        devloop.start(port=port)
        until(lambda: outbox.status_dict()['normal'] == 0, timeout=15)
    assert sorted(sources(devloop)) == sorted(names)
    assert outbox.status_dict()['uploaded'] == 30 and outbox.status_dict()['last_error'] is None


def test_duplicate_window_crash_between_200_and_delete(tmp_path: Path, devloop: DevLoop,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The one documented duplicate window: the Loop answered 200 but the node died before deleting the item."""
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    crashed = threading.Event()
    monkeypatch.setattr(outbox.store, 'delete', lambda ref: crashed.set() or False)  # 'dies' before the delete
    with running(outbox):
        outbox.save(jpeg(1), meta('dup'), wait=True)
        until(crashed.is_set)
        outbox.set_mode('stopped')
    assert sources(devloop) == ['dup']
    restarted = make_outbox(tmp_path / 'data', devloop.url)
    with running(restarted):
        until(lambda: restarted.status_dict()['normal'] == 0)
    assert sources(devloop) == ['dup', 'dup']


@pytest.mark.parametrize('retry_after', [2, 3])
def test_429_retry_after_is_honoured(tmp_path: Path, devloop: DevLoop, retry_after: int) -> None:
    """F30 (first half): 429 with Retry-After → no further request before that many seconds."""
    add_fault(devloop, status=429, retry_after=retry_after, times=1)
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    with running(outbox):
        outbox.save(jpeg(1), meta('late'), wait=True)
        until(lambda: outbox.status_dict()['uploaded'] == 1, timeout=retry_after + 10)
    first, second = image_posts(devloop)[:2]
    assert first['status'] == 429 and second['status'] == 200
    assert entry_time(second) - entry_time(first) >= retry_after - 0.01
    assert outbox.status_dict()['failed_attempts'] == 0


def test_one_broken_item_in_a_batch_of_20(tmp_path: Path, devloop: DevLoop) -> None:
    """F13: devloop answers 422 for a batch containing one broken JPEG; bisection uploads the other 19 and
    moves the broken one to rejected/ with reason `422: …`."""
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    outbox.set_mode('stopped')
    with running(outbox):
        for i in range(20):
            outbox.save(b'\xff\xd8 not really a jpeg' if i == 13 else jpeg(i), meta(f'item-{i}'), wait=True)
        outbox.set_mode('continuous_upload')
        until(lambda: outbox.status_dict()['normal'] == 0)
    assert sorted(sources(devloop)) == sorted(f'item-{i}' for i in range(20) if i != 13)
    status = outbox.status_dict()
    assert status['uploaded'] == 19 and status['rejected_422'] == 1 and status['rejected'] == 1
    [rejected] = list((tmp_path / 'data' / 'outbox' / 'rejected').iterdir())
    reason = json.loads((rejected / 'rejected.json').read_text())
    assert reason['reason'].startswith('422: ')
    assert json.loads((rejected / f'image_{rejected.name}.json').read_text())['source'] == 'item-13'
    posts = image_posts(devloop)
    assert posts[0]['status'] == 422 and len(posts) <= 12


def test_500s_follow_the_backoff_then_everything_arrives(tmp_path: Path, devloop: DevLoop) -> None:
    """500s for a while: requests are spaced by the jittered backoff (0.2 s doubling to 1.6 s here; 5 s → 300 s
    in production), not hammered; after the Loop recovers every item arrives."""
    fault = add_fault(devloop, status=500)
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    with running(outbox):
        names = save_all(outbox, 5)
        started = time.monotonic()
        until(lambda: time.monotonic() - started > 5, timeout=10)
        counted_before = outbox.status_dict()['failed_attempts']
        failed = image_posts(devloop)
        counted_after = outbox.status_dict()['failed_attempts']
        assert all(e['status'] == 500 for e in failed)
        # full jitter, cap 1.6 s: the expected number in 5 s is ~8; hammering would give hundreds
        assert 3 <= len(failed) <= 30, len(failed)
        gaps = [entry_time(b) - entry_time(a) for a, b in zip(failed, failed[1:])]
        assert max(gaps) <= 1.6 + 1.5  # the cap plus a request's time on a loaded machine
        # devloop logs a request before it answers; the outbox counts it after the answer, and retries go on
        # between the reads: counted before <= logged <= counted after + the one request in flight
        assert counted_before <= len(failed) <= counted_after + 1, (counted_before, len(failed), counted_after)
        requests.delete(f'{devloop.url}/admin/faults/{fault}', timeout=10).raise_for_status()
        until(lambda: outbox.status_dict()['normal'] == 0, timeout=10)
    assert sorted(sources(devloop)) == sorted(names)


def test_item_copied_in_by_another_process_is_uploaded(tmp_path: Path, devloop: DevLoop) -> None:
    """§9.5: an item copied into outbox/normal by `cp -r` while running is found by the observer (the 60 s
    rescan cannot have run) and uploaded."""
    outbox = make_outbox(tmp_path / 'data', devloop.url, rescan_interval=600)
    staging = tmp_path / 'elsewhere'
    write_upstream_item(staging, '2024-02-02_10:00:00.000000', 'copied')
    with running(outbox):
        until(lambda: outbox.watcher._observer is not None)
        subprocess.run(['cp', '-r', str(staging / '2024-02-02_10:00:00.000000'),
                        str(tmp_path / 'data' / 'outbox' / 'normal')], check=True)
        until(lambda: sources(devloop) == ['copied'])
        until(lambda: outbox.status_dict()['normal'] == 0)


def test_incomplete_item_is_rejected_and_the_rest_upload(tmp_path: Path, devloop: DevLoop) -> None:
    """F12: a folder with only a .json, older than the grace (0.5 s here, 60 s in production), moves to
    rejected/ with reason `incomplete item`; the items behind it upload meanwhile."""
    root = tmp_path / 'data' / 'outbox' / 'normal'
    write_upstream_item(root, '2024-01-01_00:00:01.000000', 'older-1')
    write_upstream_item(root, '2024-01-01_00:00:02.000000', 'older-2')
    write_upstream_item(root, '2024-01-01_00:00:09.000000', 'broken', with_jpg=False)  # newest: first in line
    outbox = make_outbox(tmp_path / 'data', devloop.url, incomplete_grace=0.5)
    with running(outbox):
        until(lambda: sorted(sources(devloop)) == ['older-1', 'older-2'])
        until(lambda: outbox.status_dict()['rejected_incomplete'] == 1)
    reason = json.loads((tmp_path / 'data' / 'outbox' / 'rejected' / '2024-01-01_00:00:09.000000' /
                         'rejected.json').read_text())
    assert reason['reason'] == 'incomplete item'
    assert outbox.status_dict()['normal'] == 0 and outbox.status_dict()['rejected'] == 1


def test_own_items_skip_the_settle_time(tmp_path: Path, devloop: DevLoop) -> None:
    """Items we wrote ourselves are complete by construction: uploaded at once even when the observer reports
    the rename before save() returns (the settle time only applies to foreign items)."""
    outbox = make_outbox(tmp_path / 'data', devloop.url, settle_time=30.0)
    with running(outbox):
        for i in range(5):
            outbox.save(jpeg(i), meta(f'quick-{i}'), priority=i % 2 == 0, wait=True)
            until(lambda: outbox.status_dict()['uploaded'] == i + 1, timeout=5)
