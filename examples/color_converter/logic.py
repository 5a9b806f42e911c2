"""`ColorLutConverter`: bakes a `color_blobs` model's per-pixel Mahalanobis test into a `color_blobs_lut` table."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from loopnode.converter import ConverterLogic
from loopnode.data import ModelInformation

from ..color_detector.colormodel import MODEL_FILE, MODEL_FORMAT
from ..color_detector.logic import load_color_model
from ..color_detector.lut import DEFAULT_BITS, LUT_FORMAT, ColorLut

log = logging.getLogger(__name__)

CONVERTED_FOLDER = 'converted'


class ColorLutConverter(ConverterLogic):
    """Converts `color_blobs` to `color_blobs_lut` in-process (numpy; about 50 ms at 6 bits per channel)."""

    def __init__(self, bits: int = DEFAULT_BITS) -> None:
        super().__init__(MODEL_FORMAT, LUT_FORMAT)
        self.bits = bits

    def _folder(self) -> Path:
        if self.model_folder is None:
            raise RuntimeError('model_folder is not set (the node sets it before _convert)')
        return Path(self.model_folder)

    def _convert(self, model_information: ModelInformation) -> None:
        start = time.monotonic()
        model = load_color_model(self._folder() / MODEL_FILE)
        lut = ColorLut.build(model, self.bits)
        lut.write(self._folder() / CONVERTED_FOLDER)
        log.info('model %s: %d categories baked into a %d-bit table in %.0f ms', model_information.version,
                 len(model.categories), self.bits, (time.monotonic() - start) * 1000)

    def get_converted_files(self, model_id: str) -> list[str]:
        folder = self._folder() / CONVERTED_FOLDER
        return [str(p) for p in sorted(folder.iterdir()) if p.name != 'model.json']
