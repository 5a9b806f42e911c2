"""Which autoupload items `MAX_OUTBOX_SIZE` deletes (pure; docs/outbox.md "Limits").

**Addition / differs from upstream:** the cap counts and deletes autoupload items only (explicit uploads are a
promise and are never dropped), and the default policy `thin` keeps a sample spread evenly over the whole
backlog instead of only its newest part: while over the cap it deletes the item whose neighbours are closest
in time (the oldest such item on ties), never the oldest or the newest. With steady traffic the kept items end
up evenly spaced from the outage's start to now. `drop_oldest` is upstream's rule (delete the oldest).
"""
from __future__ import annotations

import heapq
from datetime import datetime
from typing import Sequence, TypeVar

from .ids import is_standard_id

T = TypeVar('T')

THIN = 'thin'
DROP_OLDEST = 'drop_oldest'
POLICIES = (THIN, DROP_OLDEST)
_EPOCH = datetime(1970, 1, 1)


def drop_oldest(count: int, cap: int) -> list[int]:
    """Positions (oldest first) of the oldest items beyond `cap`."""
    return list(range(max(0, count - max(0, cap))))


def thin(times: Sequence[float], cap: int) -> list[int]:
    """Positions to delete so at most `cap` of the items at `times` (ascending) remain, spread evenly.

    Greedy: repeatedly delete the inner item with the smallest gap between its two neighbours, which keeps
    the remaining times as evenly spaced as possible; O(k log n) for k deletions. The ends stay (cap ≥ 2).
    """
    n = len(times)
    cap = max(0, cap)
    if n <= cap:
        return []
    if cap < 2:
        return list(range(n - cap))  # keep the newest, if any
    prev = list(range(-1, n - 1))
    nxt = list(range(1, n + 1))
    alive = [True] * n
    heap = [(times[i + 1] - times[i - 1], i) for i in range(1, n - 1)]
    heapq.heapify(heap)
    doomed: list[int] = []
    left = n
    while left > cap:
        gap, i = heapq.heappop(heap)
        if not alive[i] or times[nxt[i]] - times[prev[i]] != gap:
            continue  # stale entry: the item is gone or its neighbours changed (a fresh entry exists)
        alive[i] = False
        doomed.append(i)
        left -= 1
        p, q = prev[i], nxt[i]
        nxt[p], prev[q] = q, p
        for j in (p, q):
            if 0 < j < n - 1:
                heapq.heappush(heap, (times[nxt[j]] - times[prev[j]], j))
    return sorted(doomed)


def id_time(item_id: str, fallback: float) -> float:
    """Seconds since 1970 (local, naive) of an id; `fallback` for names not in the id format."""
    if not is_standard_id(item_id):
        return fallback
    return (datetime.fromisoformat(item_id.replace('_', 'T', 1)) - _EPOCH).total_seconds()


def cap_drops(ids: Sequence[T], id_of: Sequence[str], cap: int, policy: str) -> list[T]:
    """The items of `ids` (oldest first; `id_of[i]` their ids) that `policy` deletes to meet `cap`."""
    if len(ids) <= cap:
        return []
    if policy == DROP_OLDEST:
        positions = drop_oldest(len(ids), cap)
    elif policy == THIN:
        times: list[float] = []
        for name in id_of:
            times.append(id_time(name, times[-1] if times else 0.0))
        positions = thin(times, cap)
    else:
        raise ValueError(f'unknown cap policy {policy!r} (allowed: {", ".join(POLICIES)})')
    return [ids[i] for i in positions]
