"""Outbox modes, limits and crash safety: D10, F29, F30 (cap), F31 (disk guard), kill -9 while saving, metrics."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from loopnode.detector.outbox import OutboxBusy, OutboxRefused, UnencodableImage
from loopnode.devloop import DevLoop
from tests.detector.test_outbox_loop import (add_fault, image_posts, jpeg, make_outbox, meta, received, running,
                                             save_all, save_auto, sources)
from tests.fixtures_devloop import devloop  # noqa: F401 - fixture
from tests.helpers import until


@pytest.mark.timeout(60)
def test_stopped_keeps_items_continuous_uploads(tmp_path: Path, devloop: DevLoop) -> None:
    """D10: outbox `stopped`: a queued item stays > 6 s; `continuous_upload` empties the queue within 15 s,
    `uploaded == 1`, and devloop lists the image."""
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    outbox.set_mode('stopped')
    assert outbox.mode == 'stopped'
    with running(outbox):
        outbox.save(jpeg(1), meta('d10'), wait=True)
        deadline = time.monotonic() + 6.2
        while time.monotonic() < deadline:  # observe for 6 s that nothing leaves
            assert outbox.status_dict()['normal'] == 1
            time.sleep(0.2)  # the sampling interval of an observation, not a wait for a condition
        assert image_posts(devloop) == [] and received(devloop) == []
        outbox.set_mode('continuous_upload')
        until(lambda: outbox.status_dict()['normal'] == 0, timeout=15)
    assert outbox.status_dict()['uploaded'] == 1 and sources(devloop) == ['d10']


def test_invalid_mode_is_refused(tmp_path: Path, devloop: DevLoop) -> None:
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    with pytest.raises(ValueError, match="'x' is not a valid OutboxMode"):
        outbox.set_mode('x')
    assert outbox.mode == 'continuous_upload'


@pytest.mark.timeout(60)
def test_stop_returns_fast_while_an_upload_hangs(tmp_path: Path, devloop: DevLoop) -> None:
    """F29: set_mode('stopped') returns within 1 s while devloop delays uploads by 20 s; the request in flight
    finishes in the background and nothing further is sent."""
    add_fault(devloop, latency_ms=20000)
    outbox = make_outbox(tmp_path / 'data', devloop.url)
    with running(outbox):
        outbox.save(jpeg(1), meta('slow'), wait=True)
        until(lambda: len(image_posts(devloop)) == 1)
        started = time.monotonic()
        outbox.set_mode('stopped')
        assert time.monotonic() - started < 5.0  # 1 s on an idle machine; far from the 20 s delay
        assert outbox.mode == 'stopped'
        devloop.stop()  # ends the injected delay, so the in-flight request does not hold the test for 20 s


def test_cap_drop_oldest_policy(tmp_path: Path, devloop: DevLoop) -> None:
    """F30 (fast variant, OUTBOX_CAP_POLICY=drop_oldest: cap 50, 75 autoupload items): 50 remain, the newest;
    dropped_cap == 25; the `outbox` error is set while dropping and cleared once uploads bring it below."""
    changes: list[str | None] = []
    outbox = make_outbox(tmp_path / 'data', devloop.url, max_size=50, cap_policy='drop_oldest')
    outbox._on_error_change = lambda: changes.append(outbox.error())
    outbox.set_mode('stopped')
    with running(outbox):
        names = save_auto(outbox, 75)
        status = outbox.status_dict()
        assert status['normal'] == 50 and status['dropped_cap'] == 25
        assert status['backlog'] == {'priority': 0, 'explicit': 0, 'autoupload': 50}
        assert status['dropped_by_class']['autoupload']['cap'] == 25
        assert len(os.listdir(tmp_path / 'data' / 'outbox' / 'normal')) == 50
        assert outbox.error() == 'dropping images: normal queue over MAX_OUTBOX_SIZE 50 (25 dropped)'
        outbox.set_mode('continuous_upload')
        until(lambda: outbox.status_dict()['normal'] == 0)
        assert outbox.error() is None
    assert sorted(sources(devloop)) == sorted(names[25:])
    assert len(changes) == 2 and changes[0].startswith('dropping images') and changes[1] is None


def test_cap_thin_keeps_a_spread_and_never_drops_explicit(tmp_path: Path, devloop: DevLoop) -> None:
    """Issue 18: with the default `thin` policy, 20 explicit uploads interleaved with 100 autoupload items and
    cap 40: every explicit item stays (also after a restart: the marker file), the autoupload backlog is at
    most 40, keeps the oldest item and reaches back over the whole run; every item is uploaded or counted."""
    data = tmp_path / 'data'
    outbox = make_outbox(data, devloop.url, max_size=40)
    outbox.set_mode('stopped')
    explicit: list[str] = []
    auto: list[str] = []
    with running(outbox):
        for round_ in range(20):
            auto += save_auto(outbox, 5, start=round_ * 5)
            explicit += save_all(outbox, 1, prefix=f'explicit-{round_}')
        status = outbox.status_dict()
        assert status['backlog']['explicit'] == 20 and 0 < status['backlog']['autoupload'] <= 40
        assert status['dropped_cap'] == 100 - status['backlog']['autoupload']
        assert status['dropped_by_class']['explicit'] == {'cap': 0, 'refused_disk': 0, 'refused_busy': 0}
    kept = sorted(json.loads(p.read_text())['source'] for p in (data / 'outbox' / 'normal').glob('*/*.json'))
    kept_auto = [name for name in auto if name in kept]
    assert set(explicit) <= set(kept)
    assert kept_auto[0] == 'auto-0' and kept_auto[-1] == 'auto-99'
    quarters = [sum(1 for name in kept_auto if int(name.split('-')[1]) // 25 == q) for q in range(4)]
    assert min(quarters) >= 5, quarters  # spread over the whole run (drop_oldest would keep [0, 0, 15, 25])
    restarted = make_outbox(data, devloop.url, max_size=5)  # a restart with a smaller cap
    restarted.set_mode('stopped')
    with running(restarted):
        save_auto(restarted, 1, start=100)
        restarted.watcher.rescan()  # the source of truth (a watcher event may race the save at start)
        assert restarted.status_dict()['backlog'] == {'priority': 0, 'explicit': 20, 'autoupload': 5}
        restarted.set_mode('continuous_upload')
        until(lambda: restarted.status_dict()['normal'] == 0)
    got = sources(devloop)
    assert len(got) == len(set(got)) and set(explicit) <= set(got)


@pytest.mark.timeout(120)
def test_cap_1000_with_1500_items(tmp_path: Path, devloop: DevLoop) -> None:
    """F30: 1500 queued autoupload items with MAX_OUTBOX_SIZE=1000 (drop_oldest) → 1000 remain, dropped 500."""
    outbox = make_outbox(tmp_path / 'data', devloop.url, max_size=1000, cap_policy='drop_oldest')
    outbox.set_mode('stopped')
    with running(outbox):
        save_auto(outbox, 1500)
        outbox.watcher.rescan()  # the source of truth (a lagging watcher event may briefly re-add a dropped id)
        assert outbox.status_dict()['normal'] == 1000 and outbox.status_dict()['dropped_cap'] == 500
    assert len(os.listdir(tmp_path / 'data' / 'outbox' / 'normal')) == 1000


def test_disk_guard(tmp_path: Path, devloop: DevLoop) -> None:
    """F31: free space below OUTBOX_MIN_FREE_MB (injected disk usage): normal saves refused and counted,
    priority accepted down to the floor, status error `outbox` set and later cleared."""
    disk = SimpleNamespace(free=100 * 10**6)
    changes: list[str | None] = []
    outbox = make_outbox(tmp_path / 'data', devloop.url, disk_usage=lambda path: disk, min_free_mb=200)
    outbox._on_error_change = lambda: changes.append(outbox.error())
    outbox.set_mode('stopped')
    with running(outbox):
        with pytest.raises(OutboxRefused, match='^outbox refused: free disk space below 200 MB$'):
            outbox.save(jpeg(1), meta('normal'), wait=True)
        outbox.save(jpeg(2), meta('auto'))  # autoupload: refused silently, counted
        until(lambda: outbox.status_dict()['refused_disk'] == 2)
        assert outbox.error() == 'refusing images: free disk space 100 MB below 200 MB (2 refused)'
        outbox.save(jpeg(3), meta('prio'), priority=True, wait=True)  # above the 50 MB floor
        disk.free = 40 * 10**6
        with pytest.raises(OutboxRefused, match='below 50 MB'):
            outbox.save(jpeg(4), meta('prio2'), priority=True, wait=True)
        status = outbox.status_dict()
        assert status['normal'] == 0 and status['priority'] == 1 and status['refused_disk'] == 3
        assert status['free_mb'] == 40
        disk.free = 500 * 10**6
        outbox.save(jpeg(5), meta('normal-again'), wait=True)
        assert outbox.error() is None and outbox.status_dict()['normal'] == 1
    assert len(changes) == 2 and changes[0].startswith('refusing images') and changes[1] is None


def test_disk_guard_zero_disables(tmp_path: Path, devloop: DevLoop) -> None:
    outbox = make_outbox(tmp_path / 'data', devloop.url, disk_usage=lambda p: SimpleNamespace(free=0),
                         min_free_mb=0)
    outbox.set_mode('stopped')
    with running(outbox):
        outbox.save(jpeg(1), meta('x'), wait=True)
    assert outbox.status_dict()['normal'] == 1


def test_unencodable_and_busy_are_counted(tmp_path: Path, devloop: DevLoop) -> None:
    """§9.3: a float image counts as skipped_unencodable (autoupload) or raises (explicit upload); a full save
    queue drops autoupload images (dropped_busy) without blocking."""
    outbox = make_outbox(tmp_path / 'data', devloop.url, save_queue_size=2)
    with pytest.raises(UnencodableImage, match='cannot store an image of dtype float32 as JPEG; send uint8'):
        outbox.save(np.zeros((4, 4, 3), np.float32), meta('f'), wait=True)
    outbox.save(np.zeros((4, 4, 3), np.float32), meta('f'))
    started = time.monotonic()
    for i in range(5):  # saver not started: the queue fills up
        outbox.save(np.zeros((8, 8, 3), np.uint8), meta(f'a{i}'))
    assert time.monotonic() - started < 5.0  # a blocking save would block for ever (the saver is not started)
    with pytest.raises(OutboxBusy):
        outbox.save(jpeg(1), meta('explicit'), wait=True)
    status = outbox.status_dict()
    assert status['skipped_unencodable'] == 1 and status['dropped_busy'] == 3
    outbox.set_mode('stopped')
    with running(outbox):
        until(lambda: outbox.status_dict()['normal'] == 2)


def test_metrics(tmp_path: Path, devloop: DevLoop) -> None:
    """/metrics: queue length, uploaded, dropped by reason, rejected, failed attempts."""
    registry = CollectorRegistry()
    outbox = make_outbox(tmp_path / 'data', devloop.url, registry=registry)
    with running(outbox):
        save_all(outbox, 2)
        until(lambda: outbox.status_dict()['uploaded'] == 2)
    text = generate_latest(registry).decode()
    for line in ('loopnode_outbox_items{queue="normal"} 0.0', 'loopnode_outbox_uploaded_total 2.0',
                 'loopnode_outbox_dropped_total{reason="cap"} 0.0', 'loopnode_outbox_rejected_total{reason="422"} 0.0',
                 'loopnode_outbox_failed_attempts_total 0.0', 'loopnode_outbox_uploading 1.0',
                 'loopnode_outbox_backlog{class="autoupload"} 0.0'):
        assert line in text, line


def test_reset_recreates_folders_and_saving_works(tmp_path: Path, devloop: DevLoop) -> None:
    """Backdoor /reset: the node empties {DATA}; reset() recreates the layout; the next save is stored and
    uploaded (the observer watches the new folders)."""
    outbox = make_outbox(tmp_path / 'data', devloop.url, rescan_interval=600)
    outbox.set_mode('stopped')
    with running(outbox):
        save_all(outbox, 2)
        shutil.rmtree(tmp_path / 'data' / 'outbox')
        outbox.reset()
        assert outbox.status_dict()['normal'] == 0
        assert (tmp_path / 'data' / 'outbox' / 'priority').is_dir()
        outbox.save(jpeg(9), meta('after-reset'), wait=True)
        outbox.set_mode('continuous_upload')
        until(lambda: sources(devloop) == ['after-reset'])


CHILD = textwrap.dedent('''
    import sys, numpy as np
    from loopnode.data import ImageMetadata
    from loopnode.detector.outbox import Outbox
    from loopnode.loop.http import LoopHttp
    from loopnode.settings import Settings
    settings = Settings.from_env({'DATA_FOLDER': sys.argv[1], 'LOOP_HOST': sys.argv[2],
                                  'LOOP_ORGANIZATION': 'zauberzeug', 'LOOP_PROJECT': 'demo'}, node_type='detector')
    outbox = Outbox(settings, LoopHttp(settings))
    outbox.set_mode('stopped')
    for worker in outbox.workers:
        worker.start()
    rng = np.random.default_rng(0)
    i = 0
    while True:
        image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        outbox.save(image, ImageMetadata(source=f'kill-{i}'), wait=True)
        print(f'kill-{i}', flush=True)
        outbox.save(image, ImageMetadata(source=f'async-{i}'))  # not acknowledged: may or may not survive
        i += 1
''')


@pytest.mark.timeout(90)
def test_kill_9_while_saving_loses_no_acknowledged_item_and_uploads_no_partial(tmp_path: Path,
                                                                               devloop: DevLoop) -> None:
    """kill -9 of a process saving a stream of 640×480 images: after restart every acknowledged item is
    uploaded, every complete item arrives intact, and no partial item is uploaded (nothing rejected)."""
    data = tmp_path / 'data'
    child = subprocess.Popen([sys.executable, '-c', CHILD, str(data), devloop.url], stdout=subprocess.PIPE,
                             cwd=Path(__file__).resolve().parents[2], text=True)
    acknowledged: list[str] = []
    try:
        assert child.stdout is not None
        while len(acknowledged) < 40:
            line = child.stdout.readline()
            assert line, 'child ended early'
            acknowledged.append(line.strip())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    on_disk = sorted(os.listdir(data / 'outbox' / 'normal'))
    outbox = make_outbox(data, devloop.url)
    assert not [p for p in (data / 'tmp').iterdir()], 'staging leftovers are cleaned at start'
    with running(outbox):
        until(lambda: outbox.status_dict()['normal'] == 0, timeout=30)
    arrived = sources(devloop)
    assert set(acknowledged) <= set(arrived)
    assert len(arrived) == len(set(arrived)) == len(on_disk)
    assert outbox.status_dict()['rejected'] == 0 and outbox.status_dict()['uploaded'] == len(on_disk)
    for image in received(devloop):
        assert image['width'] == 640 and image['height'] == 480
