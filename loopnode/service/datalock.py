"""One process per data folder: an exclusive `flock` on `{DATA}/.lock`, held for the node's life.

A second process started on the same folder (by hand, beside the service) would empty the live node's `tmp/`
(outbox staging, spooled bodies) and kill its executors by their pid files before failing on the busy port.
"""
from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_NAME = '.lock'


class DataFolderBusy(RuntimeError):
    """Another process holds the data folder's lock."""


class DataFolderLock:
    """The lock of one data folder; `acquire` before touching the folder, `release` at the very end."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write our pid into the file; DataFolderBusy names the holder's pid."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors='replace').strip() or 'unknown'
            os.close(fd)
            raise DataFolderBusy(f'another process (pid {holder}) runs a node on {self.path.parent}; '
                                 'stop it first or give this one its own DATA_FOLDER') from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (closing the descriptor releases it); idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
