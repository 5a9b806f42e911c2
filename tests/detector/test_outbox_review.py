"""Review findings in the outbox: the cap and the uploader's claims."""
from __future__ import annotations

from pathlib import Path

from loopnode.detector.outbox.queue import NORMAL, ItemRef
from tests.detector.test_outbox_loop import make_outbox

UNREACHABLE = 'http://127.0.0.1:9'


def test_claims_of_items_already_uploaded_do_not_lower_the_cap(tmp_path: Path) -> None:
    """F30: after a batch went through (deleted, out of the index) its claims last until the round ends; a cap
    run in that window must not count them as items in flight and drop queued autoupload items below the cap."""
    outbox = make_outbox(tmp_path / 'data', UNREACHABLE, max_size=5, cap_policy='drop_oldest')
    queued = [f'2026-12-01_10:00:0{i}.000000' for i in range(5)]
    uploaded = [f'2026-12-01_09:00:0{i}.000000' for i in range(3)]
    for item_id in queued + uploaded:
        outbox.store.write(NORMAL, item_id, b'jpeg', b'{}')
        outbox.index.add(NORMAL, item_id)
    with outbox.uploader.claim_lock:  # the uploader claimed the batch, uploaded and deleted it (upload.py)
        outbox.uploader._in_flight.update(ItemRef(NORMAL, i) for i in uploaded)
    for item_id in uploaded:
        outbox.store.delete(ItemRef(NORMAL, item_id))
        outbox.index.discard(ItemRef(NORMAL, item_id))
    outbox._enforce_cap()
    assert outbox.counters.get('dropped_cap') == 0
    assert sorted(outbox.store.list_ids(NORMAL)) == queued
