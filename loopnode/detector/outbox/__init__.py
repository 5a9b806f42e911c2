"""The detector's outbox (detector.md §9): `Outbox` (facade.py) over its parts.

store.py (disk layout, atomic writes), ids.py (item ids), queue.py (order and counters), saver.py (thread
'outbox-save'), watch.py (thread 'outbox-watch'), upload.py (thread 'outbox-upload'), policy.py (pure rules:
limits, the disk guard, answer classification).
"""
from .facade import Outbox
from .saver import OutboxBusy, OutboxRefused, UnencodableImage

__all__ = ['Outbox', 'OutboxBusy', 'OutboxRefused', 'UnencodableImage']
