"""Files in a training folder (trainer.md §4.1): detections, upload cursors, model upload progress. All atomic.

`save_detections(list, k)` writes `detections_{k}.json`; the two cursor files let a restart continue the
detection upload at the batch after the last one the Loop accepted.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from ..data import Detections
from ..fsutil import atomic_write_bytes, atomic_write_json

DETECTIONS_PATTERN = re.compile(r'detections_(\d+)\.json')
INDEX_FILE = 'detection_uploading_json_index.txt'
OFFSET_FILE = 'detection_uploading_progress.txt'
CURSOR_FILE = 'detection_uploading_cursor.json'  # both cursors in one atomic write; the two files mirror it
PROGRESS_FILE = 'model_uploading_progress.txt'
UUID_FILE = 'uploaded_model_uuid.txt'


class TrainingIO:
    """Reads and writes the bookkeeping files of one training folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    # ---- detections ------------------------------------------------------------------------------------

    def detections_path(self, index: int) -> Path:
        return self.folder / f'detections_{index}.json'

    def save_detections(self, detections: Iterable[Detections | dict[str, Any]], index: int = 0) -> None:
        """Write one batch of Detections as `detections_{index}.json` (a JSON array)."""
        items = [d.to_dict() if isinstance(d, Detections) else d for d in detections]
        atomic_write_json(self.detections_path(index), items)

    def load_detections(self, index: int) -> list[dict[str, Any]]:
        value = json.loads(self.detections_path(index).read_text())
        if not isinstance(value, list):
            raise ValueError(f'{self.detections_path(index).name} is not a JSON array')
        return value

    def detection_file_count(self) -> int:
        """How many contiguous files `detections_0.json`, `detections_1.json`, … exist."""
        count = 0
        while self.detections_path(count).exists():
            count += 1
        return count

    def detection_files(self) -> list[Path]:
        return sorted((p for p in self.folder.glob('detections_*.json') if DETECTIONS_PATTERN.fullmatch(p.name)),
                      key=lambda p: int(DETECTIONS_PATTERN.fullmatch(p.name).group(1)))  # type: ignore[union-attr]

    # ---- cursors -------------------------------------------------------------------------------------

    def _read_int(self, name: str) -> int:
        try:
            return max(0, int((self.folder / name).read_text().strip() or 0))
        except (FileNotFoundError, ValueError):
            return 0

    def _write_int(self, name: str, value: int) -> None:
        atomic_write_bytes(self.folder / name, str(value).encode())

    def load_detection_upload_file_index(self) -> int:
        return self._read_int(INDEX_FILE)

    def save_detection_upload_file_index(self, index: int) -> None:
        self._write_int(INDEX_FILE, index)

    def load_detection_upload_progress(self) -> int:
        return self._read_int(OFFSET_FILE)

    def save_detection_upload_progress(self, offset: int) -> None:
        self._write_int(OFFSET_FILE, offset)

    def load_detection_cursor(self) -> tuple[int, int]:
        """(file index, offset): from the combined cursor file, else from the two upstream files."""
        try:
            value = json.loads((self.folder / CURSOR_FILE).read_text())
            return max(0, int(value['index'])), max(0, int(value['offset']))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return self.load_detection_upload_file_index(), self.load_detection_upload_progress()

    def save_detection_cursor(self, index: int, offset: int) -> None:
        """Store both cursors at once (a crash between the two upstream files could otherwise re-post a file)."""
        atomic_write_json(self.folder / CURSOR_FILE, {'index': index, 'offset': offset})
        self.save_detection_upload_progress(offset)
        self.save_detection_upload_file_index(index)

    def delete_detections(self) -> None:
        """Cleanup step 1: the detection files and both cursors."""
        for path in self.detection_files():
            path.unlink(missing_ok=True)
        for name in (INDEX_FILE, OFFSET_FILE, CURSOR_FILE):
            (self.folder / name).unlink(missing_ok=True)

    # ---- model upload -------------------------------------------------------------------------------

    def uploaded_formats(self) -> list[str]:
        try:
            text = (self.folder / PROGRESS_FILE).read_text()
        except FileNotFoundError:
            return []
        return [f for f in text.strip().split(',') if f]

    def mark_format_uploaded(self, fmt: str) -> None:
        formats = self.uploaded_formats()
        if fmt not in formats:
            formats.append(fmt)
        atomic_write_bytes(self.folder / PROGRESS_FILE, ','.join(formats).encode())

    def uploaded_model_uuid(self) -> str | None:
        try:
            return (self.folder / UUID_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def save_uploaded_model_uuid(self, model_uuid: str) -> None:
        atomic_write_bytes(self.folder / UUID_FILE, model_uuid.encode())
