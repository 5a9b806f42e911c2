"""The `color_blobs_lut` model: the per-pixel Mahalanobis test of a `color_blobs` model baked into a lookup table.

Colours are quantised to `bits` bits per channel; entry `(r >> s) << 2b | (g >> s) << b | (b >> s)` holds
one bit per category, set when the centre of that colour cell matches the category. Scoring a pixel becomes
one table read for all categories at once, the form a device without fast floating point wants. The files
are `color_lut.json` (the source model, for geometry and confidences) and `color_lut.npy` (the table).
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .blobs import Blob, as_rgb, category_blobs
from .colormodel import ColorModel, ColorModelError, ColorScorer

LUT_FORMAT = 'color_blobs_lut'
LUT_META_FILE = 'color_lut.json'
LUT_TABLE_FILE = 'color_lut.npy'
LUT_SCHEMA_VERSION = 1
DEFAULT_BITS = 6
MAX_CATEGORIES = 32


def _dtype(count: int) -> type[np.unsignedinteger[Any]]:
    return np.uint8 if count <= 8 else np.uint16 if count <= 16 else np.uint32


@dataclass(frozen=True)
class ColorLut:
    """A quantised-colour table with one bit per category of `model`."""

    model: ColorModel
    bits: int
    table: np.ndarray  # 1-D, length 2 ** (3 * bits), unsigned ints of category bits

    @classmethod
    def build(cls, model: ColorModel, bits: int = DEFAULT_BITS) -> 'ColorLut':
        """Score the centre of every colour cell with each category's Mahalanobis test."""
        if not 4 <= bits <= 8:
            raise ValueError(f'bits: expected 4..8, got {bits}')
        if len(model.categories) > MAX_CATEGORIES:
            raise ValueError(f'a lookup table holds at most {MAX_CATEGORIES} categories, got {len(model.categories)}')
        levels = 1 << bits
        centres = (np.arange(levels, dtype=np.float32) + 0.5) * (256 / levels) - 0.5
        r, g, b = np.meshgrid(centres, centres, centres, indexing='ij')
        cells = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
        table = np.zeros(levels ** 3, dtype=_dtype(len(model.categories)))
        for k, category in enumerate(model.categories):
            scorer = category.scorer()
            table[scorer.sq_distance(cells) <= scorer.max_sq_distance] |= table.dtype.type(1 << k)
        return cls(model, bits, table)

    def indices(self, rgb: np.ndarray) -> np.ndarray:
        """Table index of every pixel of an H x W x 3 uint8 image (int32 H x W)."""
        cells = rgb >> (8 - self.bits)  # still uint8: cheaper than shifting int32s
        return ((cells[:, :, 0].astype(np.int32) << (2 * self.bits)) | (cells[:, :, 1].astype(np.int32) << self.bits)
                | cells[:, :, 2])

    def find_blobs(self, image: np.ndarray, scorers: list[ColorScorer] | None = None) -> list[Blob]:
        """The same blobs as `blobs.find_blobs` on the source model, up to colour quantisation at region edges."""
        rgb = as_rgb(image)
        if rgb.dtype != np.uint8:
            rgb = np.clip(rgb, 0, 255).astype(np.uint8)
        flags = np.take(self.table, self.indices(rgb))
        scorers = scorers if scorers is not None else [c.scorer() for c in self.model.categories]
        blobs: list[Blob] = []
        for k, (category, scorer) in enumerate(zip(self.model.categories, scorers)):
            mask = (flags & flags.dtype.type(1 << k)) != 0
            blobs.extend(b for b in category_blobs(rgb, mask, category, scorer, self.model.downsample)
                         if b.confidence >= self.model.min_confidence)
        return blobs

    def meta(self) -> dict[str, Any]:
        return {'format': LUT_FORMAT, 'schema_version': LUT_SCHEMA_VERSION, 'bits': self.bits,
                'table_file': LUT_TABLE_FILE, 'model': self.model.to_dict()}

    def write(self, folder: Path) -> list[Path]:
        """Write color_lut.json and color_lut.npy into `folder`; returns both paths."""
        folder.mkdir(parents=True, exist_ok=True)
        meta_path, table_path = folder / LUT_META_FILE, folder / LUT_TABLE_FILE
        meta_path.write_text(json.dumps(self.meta(), indent=2) + '\n', encoding='utf-8')
        out = io.BytesIO()
        np.save(out, self.table, allow_pickle=False)
        table_path.write_bytes(out.getvalue())
        return [meta_path, table_path]

    @classmethod
    def read(cls, folder: Path) -> 'ColorLut':
        """Read and check both files; ValueError naming the file and the problem."""
        meta_path, table_path = folder / LUT_META_FILE, folder / LUT_TABLE_FILE
        try:
            meta = json.loads(meta_path.read_text(encoding='utf-8'))
        except FileNotFoundError:
            raise ValueError(f'{LUT_META_FILE} not found in the model folder {folder}') from None
        except (OSError, ValueError) as e:
            raise ValueError(f'{meta_path}: not readable JSON: {e}') from None
        if not isinstance(meta, dict) or meta.get('schema_version') != LUT_SCHEMA_VERSION:
            raise ValueError(f'{meta_path}: schema_version: expected {LUT_SCHEMA_VERSION}')
        bits = meta.get('bits')
        if not isinstance(bits, int) or isinstance(bits, bool) or not 4 <= bits <= 8:
            raise ValueError(f'{meta_path}: bits: expected an integer in [4, 8], got {bits!r}')
        try:
            model = ColorModel.from_dict(meta.get('model'))
        except ColorModelError as e:
            raise ValueError(f'{meta_path}: model.{e}') from None
        try:
            table = np.load(table_path, allow_pickle=False)
        except FileNotFoundError:
            raise ValueError(f'{LUT_TABLE_FILE} not found in the model folder {folder}') from None
        except (OSError, ValueError) as e:
            raise ValueError(f'{table_path}: not a numpy table: {e}') from None
        if table.shape != (1 << (3 * bits),) or table.dtype != _dtype(len(model.categories)):
            expected = np.dtype(_dtype(len(model.categories)))
            raise ValueError(f'{table_path}: expected {1 << (3 * bits)} entries of {expected}, '
                             f'got shape {table.shape} of {table.dtype}')
        return cls(model, bits, table)
