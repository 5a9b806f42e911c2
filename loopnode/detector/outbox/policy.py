"""Pure decisions of the outbox (detector.md §9.6, §9.7): answer classes, bisection, timeouts, disk guard.

No I/O and no threads: the uploader passes a `send` function and the measured free space, so every rule
here is unit-tested directly.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Generic, Sequence, TypeVar

T = TypeVar('T')

BATCH_SIZE = 20
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0           # loop-protocol.md §4.5, for one image
READ_TIMEOUT_PER_ITEM = 3.0   # added per image, so a batch of 20 over a slow link still gets its answer
RETRY_AFTER_CAP = 300.0
PRIORITY_FLOOR_MB = 50


class Verdict(enum.Enum):
    """What the uploader does with one answer of `POST P/images`."""

    OK = 'ok'                    # 2xx: delete the items
    SPLIT = 'split'              # 413/422: bisect, a single item goes to rejected/
    RATE_LIMITED = 'rate_limited'  # 429: wait Retry-After or the backoff
    RETRY = 'retry'              # anything else: keep the items, back off


def classify(status: int) -> Verdict:
    if 200 <= status < 300:
        return Verdict.OK
    if status in (413, 422):
        return Verdict.SPLIT
    if status == 429:
        return Verdict.RATE_LIMITED
    return Verdict.RETRY


def batch_timeout(n: int) -> tuple[float, float]:
    """(connect, read) timeout for a request carrying `n` images."""
    return CONNECT_TIMEOUT, READ_TIMEOUT + READ_TIMEOUT_PER_ITEM * max(0, n - 1)


@dataclass(frozen=True)
class Answer:
    """The outcome of one request: its verdict, a text for logs/rejections, and Retry-After if any."""

    verdict: Verdict
    detail: str = ''
    retry_after: float | None = None


@dataclass
class BisectResult(Generic[T]):
    """What a bisected upload achieved; `stopped` is the answer that ended it early (429/other), if any."""

    uploaded: list[T] = field(default_factory=list)
    rejected: list[tuple[T, str]] = field(default_factory=list)
    stopped: Answer | None = None
    requests: int = 0


def upload_bisecting(items: Sequence[T], send: Callable[[Sequence[T]], Answer],
                     keep_going: Callable[[], bool] = lambda: True) -> BisectResult[T]:
    """Send `items`; on 413/422 split in halves and send each at once; a lone refused item is rejected.

    Ends early (items kept) on a 429 or other failure, or when `keep_going()` turns false between requests.
    """
    result: BisectResult[T] = BisectResult()
    pending: list[Sequence[T]] = [items]
    while pending:
        if result.requests and not keep_going():
            break
        part = pending.pop(0)
        answer = send(part)
        result.requests += 1
        if answer.verdict is Verdict.OK:
            result.uploaded.extend(part)
        elif answer.verdict is Verdict.SPLIT:
            if len(part) == 1:
                result.rejected.append((part[0], answer.detail))
            else:
                half = (len(part) + 1) // 2
                pending[0:0] = [part[:half], part[half:]]
        else:
            result.stopped = answer
            break
    return result


def guard_threshold_mb(min_free_mb: int, priority: bool) -> int:
    """Free space (MB) below which a new item of this kind is refused; 0 = guard off."""
    if min_free_mb <= 0:
        return 0
    return min(PRIORITY_FLOOR_MB, min_free_mb) if priority else min_free_mb


def refused_by_guard(free_mb: float, min_free_mb: int, priority: bool) -> bool:
    threshold = guard_threshold_mb(min_free_mb, priority)
    return threshold > 0 and free_mb < threshold


def disk_error_text(free_mb: float, min_free_mb: int, refused: int) -> str:
    return f'refusing images: free disk space {int(free_mb)} MB below {min_free_mb} MB ({refused} refused)'


def cap_error_text(cap: int, dropped: int) -> str:
    return f'dropping images: normal queue over MAX_OUTBOX_SIZE {cap} ({dropped} dropped)'


def drain_estimate(backlog: int, rate: float | None) -> float | None:
    """Seconds to upload `backlog` items at `rate` items/s (the recent rate while sending); None if unknown."""
    if backlog <= 0:
        return 0.0
    if not rate or rate <= 0:
        return None
    return round(backlog / rate, 1)
