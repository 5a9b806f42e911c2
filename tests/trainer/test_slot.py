"""The training slot lock (trainer.md §8)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loopnode.trainer.slot import TrainingSlot
from tests.helpers import until

HOLDER = """
import fcntl, sys, time
f = open(sys.argv[1], 'a+')
fcntl.flock(f, fcntl.LOCK_EX)
f.truncate(0); f.write('pid holder on here, node other'); f.flush()
print('locked', flush=True)
time.sleep(300)
"""


def test_without_lock_file_always_free(tmp_path: Path) -> None:
    slot = TrainingSlot(None, 'u')
    assert slot.try_acquire('x') and slot.held and not slot.held_by_sibling()


def test_acquire_release_and_holder_text(tmp_path: Path) -> None:
    path = tmp_path / 'gpu.lock'
    mine, sibling = TrainingSlot(path, 'me'), TrainingSlot(path, 'sibling')
    assert mine.claim('training #1 of o/p')
    assert f'pid {os.getpid()}' in path.read_text() and 'training #1 of o/p' in path.read_text()
    assert sibling.held_by_sibling() and not sibling.try_acquire('y')
    assert sibling.holder_text().startswith('pid ')
    assert oct(path.stat().st_mode & 0o777) == oct(0o666)
    mine.release()
    assert path.read_text() == ''
    assert not sibling.held_by_sibling() and sibling.try_acquire('y')
    sibling.release()


def test_killed_holder_frees_the_slot(tmp_path: Path) -> None:
    """TF16 (unit part): the kernel releases the lock when the holder dies."""
    path = tmp_path / 'gpu.lock'
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        slot = TrainingSlot(path, 'me')
        assert slot.held_by_sibling() and not slot.claim('t')
        assert slot.holder_text() == 'pid holder on here, node other'
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    until(lambda: slot.try_acquire('t'), timeout=5)
    slot.release()
