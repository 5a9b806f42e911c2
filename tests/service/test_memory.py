"""HeapTrimmer (service/memory.py): malloc_trim once a burst of large messages is over (issue 16)."""
from __future__ import annotations

import platform
import threading

from loopnode.service.memory import HeapTrimmer
from tests.helpers import until


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def trimmer(clock: FakeClock, calls: list[int]) -> HeapTrimmer:
    return HeapTrimmer(threshold=1000, quiet=0.5, clock=clock, trim=lambda pad: calls.append(pad) or 1)


def test_small_messages_never_trim() -> None:
    """A message below the threshold leaves nothing to trim."""
    clock, calls = FakeClock(), []
    t = trimmer(clock, calls)
    t.note(999)
    clock.now += 10
    assert t.due() is False


def test_trim_is_due_only_after_the_quiet_period_and_once_per_burst() -> None:
    """While large messages keep coming nothing is due; `quiet` seconds after the last one, once."""
    clock, calls = FakeClock(), []
    t = trimmer(clock, calls)
    t.note(5000)
    clock.now += 0.4
    assert t.due() is False
    t.note(5000)  # the burst goes on: the quiet period starts again
    clock.now += 0.4
    assert t.due() is False
    clock.now += 0.1
    assert t.due() is True
    assert t.due() is False  # forgotten until the next large message
    t.trim_now()
    assert calls == [0] and t.trims == 1


def test_worker_loop_trims_after_a_burst_and_stops() -> None:
    """run(stop) on a real thread (real clock): one trim after a large message, and it ends on stop."""
    calls: list[int] = []
    t = HeapTrimmer(threshold=10, quiet=0.05, trim=lambda pad: calls.append(pad) or 0)
    stop = threading.Event()
    thread = threading.Thread(target=t.run, args=(stop,), name='test-heap-trim')
    thread.start()
    try:
        t.note(100)
        until(lambda: t.trims == 1, 5)
        assert calls == [0]
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_libc_trim_is_found_on_glibc() -> None:
    """On glibc the real malloc_trim is used (a large message then leads to a real trim)."""
    t = HeapTrimmer(threshold=1, quiet=0.0)
    t.note(1)
    assert t.due() is (platform.libc_ver()[0] == 'glibc')
    t.trim_now()
    assert t.trims == (1 if platform.libc_ver()[0] == 'glibc' else 0)
