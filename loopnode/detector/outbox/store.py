"""The outbox on disk (detector.md §9.1): upstream's folder layout, atomic item writes, rejected/ and deletes.

An item is written into `{DATA}/tmp/<id>/`, both files and the folder are fsynced, then the folder is renamed
into `outbox/<queue>/` and that folder is fsynced: the watched folders only ever see complete items, and an
acknowledged save survives a crash. Deletes rename the folder out first, so a crash mid-delete never leaves a
half item in the queue. Several items of one upload request are staged first and renamed together (all or
none). **Addition:** an explicit upload carries an empty `.explicit` file in its folder (written before the
rename, so it survives restarts); upstream reads only the two image files, so it ignores the marker.
"""
from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ...fsutil import atomic_write_json, fsync_dir
from ...isotime import now_iso
from .ids import ID_PATTERN
from .queue import NORMAL, PRIORITY, ItemRef

log = logging.getLogger(__name__)

REJECTED = 'rejected'
REJECTED_KEEP = 100
REJECTED_FILE = 'rejected.json'
DELETE_SUFFIX = '.del'
EXPLICIT_MARKER = '.explicit'  # empty file in the item folder: an explicit upload (upstream ignores it)


@dataclass(frozen=True)
class ItemFiles:
    """The two files of an item; either may be missing (an incomplete item)."""

    jpg: Path
    json: Path


class OutboxStore:
    """Paths and file operations of `{DATA}/outbox`; safe to call from several threads on different items."""

    def __init__(self, data_folder: Path) -> None:
        self.data_folder = Path(data_folder)
        self.root = self.data_folder / 'outbox'
        self.tmp = self.data_folder / 'tmp'
        self.rejected = self.root / REJECTED

    def folder(self, queue: str) -> Path:
        return self.root / queue

    def item_dir(self, ref: ItemRef) -> Path:
        return self.root / ref.queue / ref.id

    def files(self, ref: ItemRef) -> ItemFiles:
        folder = self.item_dir(ref)
        return ItemFiles(folder / f'image_{ref.id}.jpg', folder / f'image_{ref.id}.json')

    def ensure_layout(self) -> None:
        """Create the folders (at start and after a backdoor reset)."""
        for path in (self.tmp, self.folder(NORMAL), self.folder(PRIORITY), self.rejected):
            path.mkdir(parents=True, exist_ok=True)

    def clean_staging(self) -> int:
        """Delete staging leftovers of a crash (`tmp/<id>` and `tmp/<id>.del`); other tmp files are not ours."""
        removed = 0
        if not self.tmp.is_dir():
            return 0
        for entry in os.scandir(self.tmp):
            name = entry.name.removesuffix(DELETE_SUFFIX)
            if entry.is_dir(follow_symlinks=False) and ID_PATTERN.match(name):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        if removed:
            log.info('outbox: removed %d unfinished staging folders from %s', removed, self.tmp)
        return removed

    def list_ids(self, queue: str) -> list[str]:
        """Sorted item folder names of a queue (hidden names skipped)."""
        try:
            with os.scandir(self.folder(queue)) as it:
                return sorted(e.name for e in it if e.is_dir(follow_symlinks=False) and not e.name.startswith('.'))
        except FileNotFoundError:
            return []

    def is_explicit(self, ref: ItemRef) -> bool:
        """True if the item carries the explicit-upload marker (priority items are explicit by construction)."""
        return ref.queue == PRIORITY or (self.item_dir(ref) / EXPLICIT_MARKER).exists()

    def write(self, queue: str, item_id: str, jpeg: bytes, metadata_json: bytes, *,
              explicit: bool = False) -> ItemRef:
        """Stage, fsync and rename one item into `queue`; returns its reference."""
        staged = self.stage(item_id, jpeg, metadata_json, explicit=explicit)
        return self.commit(queue, [staged])[0]

    def stage(self, item_id: str, jpeg: bytes, metadata_json: bytes, *, explicit: bool = False) -> Path:
        """Write one item into `tmp/<id>/` (files and folder fsynced); `commit` moves it into a queue."""
        stage = self.tmp / item_id
        if stage.exists():
            shutil.rmtree(stage)
        stage.mkdir(parents=True)
        try:
            _write_synced(stage / f'image_{item_id}.jpg', jpeg)
            _write_synced(stage / f'image_{item_id}.json', metadata_json)
            if explicit:
                _write_synced(stage / EXPLICIT_MARKER, b'')
            fsync_dir(stage)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        return stage

    def commit(self, queue: str, staged: list[Path]) -> list[ItemRef]:
        """Rename staged items into `queue` and fsync it: all of them, or (on an error) none."""
        folder = self.folder(queue)
        folder.mkdir(parents=True, exist_ok=True)
        done: list[ItemRef] = []
        try:
            for stage in staged:
                ref = ItemRef(queue, stage.name)
                os.rename(stage, self.item_dir(ref))
                done.append(ref)
            fsync_dir(folder)  # a failure here too answers "not stored": the renamed items go, or a retry duplicates
        except BaseException:
            for ref in done:
                try:
                    self.delete(ref)
                except OSError as e:  # the disk that failed the fsync may fail this too: roll back the rest
                    log.error('outbox: could not roll back %s after a failed commit: %s', ref.id, e)
            self.discard_staged(staged)
            raise
        return done

    def discard_staged(self, staged: list[Path]) -> None:
        """Delete staged items that will not be committed."""
        for stage in staged:
            shutil.rmtree(stage, ignore_errors=True)

    def read(self, ref: ItemRef) -> tuple[bytes, bytes] | None:
        """(jpeg, json) bytes of a complete item; None if a file is missing or unreadable.

        An unreadable item (a folder where a file should be, no permission, a bad sector) then takes the
        incomplete-item path to rejected/ instead of blocking the head of the queue.
        """
        files = self.files(ref)
        try:
            return files.jpg.read_bytes(), files.json.read_bytes()
        except OSError:
            return None

    def exists(self, ref: ItemRef) -> bool:
        return self.item_dir(ref).is_dir()

    def delete(self, ref: ItemRef) -> bool:
        """Remove an item (rename out of the queue first); False if it was already gone."""
        doomed = self.tmp / f'{ref.id}{DELETE_SUFFIX}'
        try:
            if doomed.exists():
                shutil.rmtree(doomed, ignore_errors=True)
            os.rename(self.item_dir(ref), doomed)
        except FileNotFoundError:
            return False
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    def reject(self, ref: ItemRef, reason: str, keep: int = REJECTED_KEEP) -> bool:
        """Move an item to `rejected/` with `rejected.json`; keep at most `keep` rejected items."""
        self.rejected.mkdir(parents=True, exist_ok=True)
        target = self.rejected / ref.id
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(self.item_dir(ref), target)
        except FileNotFoundError:
            return False
        atomic_write_json(target / REJECTED_FILE, {
            'reason': reason, 'rejected_at': now_iso(),
            'queue': ref.queue})
        fsync_dir(self.rejected)
        self.prune_rejected(keep)
        return True

    def prune_rejected(self, keep: int = REJECTED_KEEP) -> int:
        names = self.list_rejected()
        doomed = names[:max(0, len(names) - keep)]
        for name in doomed:
            shutil.rmtree(self.rejected / name, ignore_errors=True)
        return len(doomed)

    def list_rejected(self) -> list[str]:
        try:
            with os.scandir(self.rejected) as it:
                return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return []


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
