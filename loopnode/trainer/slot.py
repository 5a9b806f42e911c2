"""The training slot shared by trainers on one GPU (trainer.md §8): a non-blocking `flock` on a file.

The holder writes `pid <pid> on <host>, node <uuid>, training #<n> of <org>/<project>` into the file; a probe
(try the lock, release at once) tells whether a sibling holds it. The fd is close-on-exec, so executors never
inherit the lock. Without `TRAINING_SLOT_LOCK` the slot is always free.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import threading
from pathlib import Path

log = logging.getLogger(__name__)

CLAIM_TRIES = 3


class TrainingSlot:
    """One node's handle on the lock file (or a no-op slot when `path` is None)."""

    def __init__(self, path: str | Path | None, node_uuid: str) -> None:
        self.path = Path(path) if path else None
        self.node_uuid = node_uuid
        self._fd: int | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.path is not None

    @property
    def held(self) -> bool:
        """True while this node holds the slot (always True without a lock file)."""
        with self._lock:
            return self.path is None or self._fd is not None

    def _open(self) -> int:
        assert self.path is not None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            os.fchmod(fd, 0o666)
        except OSError:
            pass  # not the owner: the mode stays as the creator set it
        return fd

    def try_acquire(self, description: str) -> bool:
        """Take the slot without waiting; writes the holder text. True if we hold it now."""
        if self.path is None:
            return True
        with self._lock:
            if self._fd is not None:
                return True
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES):
                    return False
                raise
            text = f'pid {os.getpid()} on {socket.gethostname()}, node {self.node_uuid}, {description}'
            os.ftruncate(fd, 0)
            os.pwrite(fd, text.encode(), 0)
            self._fd = fd
            log.info('training slot %s acquired: %s', self.path, text)
            return True

    def claim(self, description: str) -> bool:
        """`begin_training`: up to 3 quick tries, in case the failure was a sibling's momentary probe."""
        for _ in range(CLAIM_TRIES):
            if self.try_acquire(description):
                return True
            if self.holder_text() != 'unknown':
                return False  # a real holder wrote its text: no point in retrying
        return False

    def release(self) -> None:
        if self.path is None:
            return
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)  # closing the fd releases the flock
            log.info('training slot %s released', self.path)

    def held_by_sibling(self) -> bool:
        """Probe: True if another process holds the lock (we do not hold it and a test lock fails)."""
        if self.path is None:
            return False
        with self._lock:
            if self._fd is not None:
                return False
            try:
                fd = self._open()
            except OSError:
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            finally:
                os.close(fd)
            return False

    def holder_text(self) -> str:
        """What the holder wrote into the file, or `unknown`."""
        if self.path is None:
            return 'unknown'
        try:
            return self.path.read_text().strip() or 'unknown'
        except OSError:
            return 'unknown'
