"""`ColorBlobsFactory` (format `color_blobs`) and the logic it builds: colour blobs as box/point detections."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from loopnode.data import BoxDetection, Category, ImageMetadata, ImagesMetadata, ModelInformation, PointDetection

from .blobs import Blob, find_blobs
from .colormodel import MODEL_FILE, MODEL_FORMAT, ColorModel, ColorModelError
from .lut import LUT_FORMAT, ColorLut

log = logging.getLogger(__name__)


class ColorBlobsLogic:
    """Detects the categories of one `color_blobs` (or, with `lut`, `color_blobs_lut`) model version; stateless."""

    def __init__(self, model: ColorModel, model_info: ModelInformation, lut: ColorLut | None = None) -> None:
        self.model = model
        self.lut = lut
        self.model_info = model_info
        self.scorers = [c.scorer() for c in model.categories]
        self.loop_categories = {c: _loop_category(model_info, c.id, c.name) for c in model.categories}
        if model_info.conf_threshold is not None:
            self.min_confidence = max(model.min_confidence, float(model_info.conf_threshold))
        else:
            self.min_confidence = model.min_confidence

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        """Box detections for box categories, centre points for point categories, original pixels."""
        result = ImageMetadata()
        version = self.model_info.version
        for blob in self.blobs(image):
            if blob.confidence < self.min_confidence:
                continue
            category = self.loop_categories[blob.category]
            confidence = round(blob.confidence, 3)
            if blob.category.type == 'box':
                result.box_detections.append(BoxDetection(
                    category_name=category.name, x=blob.x0, y=blob.y0, width=blob.x1 - blob.x0,
                    height=blob.y1 - blob.y0, model_name=version, confidence=confidence, category_id=category.id))
            else:
                result.point_detections.append(PointDetection(
                    category_name=category.name, x=round(blob.cx, 1), y=round(blob.cy, 1), model_name=version,
                    confidence=confidence, category_id=category.id))
        return result

    def batch_evaluate(self, images: list[np.ndarray]) -> ImagesMetadata:
        return ImagesMetadata(items=[self.evaluate(image) for image in images])

    def blobs(self, image: np.ndarray) -> list[Blob]:
        """The raw blobs (for debugging and the fitting script's report)."""
        if self.lut is not None:
            return self.lut.find_blobs(image, self.scorers)
        return find_blobs(image, self.model, self.scorers)


def _loop_category(model_info: ModelInformation, category_id: str | None, name: str) -> Category:
    """The model's category with this id, else with this name; ValueError if the model has neither."""
    for category in model_info.categories:
        if category_id is not None and category.id == category_id:
            return category
    for category in model_info.categories:
        if category.name == name:
            return category
    known = ', '.join(c.name for c in model_info.categories) or 'none'
    raise ValueError(f'{MODEL_FILE}: category {name!r} is not a category of model {model_info.version} '
                     f'(it has: {known})')


def load_color_model(path: Path) -> ColorModel:
    """Read and check a color_model.json; ValueError with the file and field on any problem."""
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except FileNotFoundError:
        raise ValueError(f'{path.name} not found in the model folder {path.parent}') from None
    except (OSError, ValueError) as e:
        raise ValueError(f'{path}: not readable JSON: {e}') from None
    try:
        return ColorModel.from_dict(data)
    except ColorModelError as e:
        raise ValueError(f'{path}: {e}') from None


class ColorBlobsFactory:
    """Builds a `ColorBlobsLogic` from the model folder (build takes milliseconds).

    `model_format` chooses the format served: `color_blobs` (`color_model.json`) or `color_blobs_lut`
    (`color_lut.json` + `color_lut.npy`, made by the example converter; same detections, faster).
    """

    def __init__(self, model_format: str = MODEL_FORMAT) -> None:
        if model_format not in (MODEL_FORMAT, LUT_FORMAT):
            raise ValueError(f'model_format: expected {MODEL_FORMAT!r} or {LUT_FORMAT!r}, got {model_format!r}')
        self.model_format = model_format

    def build(self, model_info: ModelInformation) -> ColorBlobsLogic:
        if not model_info.model_root_path:
            raise ValueError('model_info.model_root_path is not set')
        folder = Path(model_info.model_root_path)
        if self.model_format == LUT_FORMAT:
            lut = ColorLut.read(folder)
            model = lut.model
        else:
            lut, model = None, load_color_model(folder / MODEL_FILE)
        logic = ColorBlobsLogic(model, model_info, lut)
        log.info('built %s model %s with categories %s', self.model_format, model_info.version,
                 ', '.join(f'{c.name} ({c.type})' for c in model.categories))
        return logic


def color_blobs_lut_factory() -> ColorBlobsFactory:
    """The factory serving `color_blobs_lut`: `--logic loopnode.examples.color_detector:color_blobs_lut_factory`."""
    return ColorBlobsFactory(LUT_FORMAT)
