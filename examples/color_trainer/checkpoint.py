"""The training script's checkpoint (pure format + atomic file): fitting pixels gathered so far, per category.

Fitting a colour model is one pass over the training images collecting the pixels inside the annotations,
then one `fit_color_model`-like step. The checkpoint holds the pass's state: the index of the next image,
the pixels per category id and the smallest box area per category, in one `.npz` replaced atomically, so a
killed process resumes at the image after the last checkpoint and fits the same model.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from loopnode.fsutil import atomic_write_bytes

CHECKPOINT_FILE = 'checkpoint.npz'
FORMAT_VERSION = 1


@dataclass
class FitState:
    """Next image index, RGB pixels (N x 3 uint8) per category id, smallest box area (px) per category id."""

    next_image: int = 0
    pixels: dict[str, list[np.ndarray]] = field(default_factory=dict)
    min_box_area: dict[str, float] = field(default_factory=dict)

    def add_pixels(self, category_id: str, rgb: np.ndarray) -> None:
        self.pixels.setdefault(category_id, []).append(np.asarray(rgb, dtype=np.uint8).reshape(-1, 3))

    def add_box(self, category_id: str, area: float) -> None:
        self.min_box_area[category_id] = min(area, self.min_box_area.get(category_id, float('inf')))

    def category_pixels(self) -> dict[str, np.ndarray]:
        return {cid: np.concatenate(parts) for cid, parts in self.pixels.items() if parts}

    def to_bytes(self) -> bytes:
        meta = {'version': FORMAT_VERSION, 'next_image': self.next_image, 'min_box_area': self.min_box_area,
                'categories': list(self.category_pixels())}
        arrays = {f'pixels_{k}': a for k, a in enumerate(self.category_pixels().values())}
        out = io.BytesIO()
        np.savez(out, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> 'FitState':
        """Parse a checkpoint; ValueError if it is not one of this version."""
        try:
            with np.load(io.BytesIO(data)) as archive:
                meta = json.loads(archive['meta'].tobytes().decode())
                if meta.get('version') != FORMAT_VERSION:
                    raise ValueError(f'checkpoint version {meta.get("version")!r}, expected {FORMAT_VERSION}')
                pixels = {cid: [archive[f'pixels_{k}'].astype(np.uint8)] for k, cid in enumerate(meta['categories'])}
        except (OSError, KeyError, EOFError) as e:
            raise ValueError(f'not a checkpoint: {e}') from None
        return cls(int(meta['next_image']), pixels, {str(k): float(v) for k, v in meta['min_box_area'].items()})


def save(path: Path, state: FitState) -> None:
    """Write the checkpoint atomically (temporary file, fsync, rename)."""
    atomic_write_bytes(path, state.to_bytes())


def load(path: Path) -> FitState | None:
    """The checkpoint at `path`, or None if there is none (or it is unreadable: the fit starts over)."""
    try:
        return FitState.from_bytes(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
