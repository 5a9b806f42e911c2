"""Fit a `color_blobs` model from annotated images, and pack it as a model zip.

`fit_color_model(samples, categories)` is pure: it takes decoded images with box and point annotations and
returns a `ColorModel`. `demo_samples(...)` makes annotated images with devloop's generator. Run
`python -m loopnode.examples.color_detector.fit --out color_model.json` to write a model for devloop's demo project.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image

from .colormodel import DETECTED_TYPES, MODEL_FILE, CategoryColor, ColorModel, rgb_to_ycbcr

log = logging.getLogger(__name__)

MIN_STD = 3.0                # covariance floor (per YCbCr channel): JPEG noise the samples may not show
DISTANCE_QUANTILE = 0.995    # of the fitting pixels' distances ...
DISTANCE_MARGIN = 1.5        # ... times this margin is the match threshold
MIN_MAX_DISTANCE = 4.0
AREA_FRACTION = 0.4          # smallest region kept, relative to the smallest fitted shape
INNER_FRACTION = 0.6         # boxes: fit pixels inside the central ellipse of this relative size (ellipses too)
POINT_RADIUS = 5.0           # points: fit pixels within this radius of the annotated centre
DEFAULT_POINT_SIZE = 20


@dataclass
class Sample:
    """A decoded RGB image with its annotations: boxes (category_id, x, y, w, h), points (category_id, x, y)."""

    image: np.ndarray
    boxes: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    points: list[tuple[str, float, float]] = field(default_factory=list)


def _inner_ellipse(h: int, w: int, x: float, y: float, width: float, height: float) -> np.ndarray:
    """Mask of the pixels whose centres lie in the ellipse of INNER_FRACTION size centred in the box."""
    cx, cy = x + width / 2, y + height / 2
    rx, ry = max(width * INNER_FRACTION / 2, 1.0), max(height * INNER_FRACTION / 2, 1.0)
    yy, xx = np.ogrid[0:h, 0:w]
    return ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1.0


def _disc(h: int, w: int, x: float, y: float, radius: float) -> np.ndarray:
    yy, xx = np.ogrid[0:h, 0:w]
    return (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= radius ** 2


def sample_pixels(sample: Sample) -> dict[str, list[np.ndarray]]:
    """RGB pixels (N x 3) per category id from the interiors of one sample's annotated shapes."""
    pixels: dict[str, list[np.ndarray]] = {}
    h, w = sample.image.shape[:2]
    for category_id, x, y, bw, bh in sample.boxes:
        pixels.setdefault(category_id, []).append(sample.image[_inner_ellipse(h, w, x, y, bw, bh)])
    for category_id, px, py in sample.points:
        pixels.setdefault(category_id, []).append(sample.image[_disc(h, w, px, py, POINT_RADIUS)])
    return pixels


def smallest_box_areas(samples: Sequence[Sample]) -> dict[str, float]:
    """Smallest annotated box (width x height) per category id."""
    areas: dict[str, float] = {}
    for sample in samples:
        for cid, _, _, bw, bh in sample.boxes:
            areas[cid] = min(float(bw * bh), areas.get(cid, float('inf')))
    return areas


def min_area(category: dict[str, Any], smallest_box_area: float | None) -> int:
    """Smallest region kept: a fraction of the smallest fitted shape (an ellipse in its box; a point's disc)."""
    if category['type'] == 'point':
        diameter = max(DEFAULT_POINT_SIZE, int(category.get('point_size') or DEFAULT_POINT_SIZE))
        return max(1, int(AREA_FRACTION * math.pi * (diameter / 2) ** 2))
    return max(1, int(AREA_FRACTION * (smallest_box_area or 1.0) * math.pi / 4))


def fit_category(category: dict[str, Any], rgb_pixels: np.ndarray, min_area: int) -> CategoryColor:
    """Mean, floored covariance and match threshold of one category's fitting pixels (YCbCr)."""
    ycbcr = rgb_to_ycbcr(rgb_pixels.reshape(-1, 3))
    mean = ycbcr.mean(axis=0)
    covariance = np.cov(ycbcr, rowvar=False) + np.eye(3) * MIN_STD ** 2
    centred = ycbcr - mean
    distances = np.sqrt(np.einsum('ij,jk,ik->i', centred, np.linalg.inv(covariance), centred))
    max_distance = max(MIN_MAX_DISTANCE, float(np.quantile(distances, DISTANCE_QUANTILE)) * DISTANCE_MARGIN)
    return CategoryColor(name=category['name'], type=category['type'], mean=tuple(float(v) for v in mean),
                         covariance=tuple(tuple(float(v) for v in row) for row in covariance),
                         max_distance=max_distance, min_area=min_area, id=category['id'])


def fit_color_model(samples: Sequence[Sample], categories: Iterable[dict[str, Any]], *,
                    downsample: int = 2, min_confidence: float = 0.2) -> ColorModel:
    """A model for every box/point category with annotations in `samples` (categories as Loop dicts)."""
    pixels: dict[str, list[np.ndarray]] = {}
    for sample in samples:
        for cid, parts in sample_pixels(sample).items():
            pixels.setdefault(cid, []).extend(parts)
    return fit_from_pixels(categories, {cid: np.concatenate(p) for cid, p in pixels.items()},
                           smallest_box_areas(samples), downsample=downsample, min_confidence=min_confidence)


def fit_from_pixels(categories: Iterable[dict[str, Any]], pixels: dict[str, np.ndarray],
                    box_areas: dict[str, float], *, downsample: int = 2, min_confidence: float = 0.2) -> ColorModel:
    """The model of gathered fitting pixels per category id (what `fit_color_model` and the trainer share)."""
    fitted = []
    for category in categories:
        if category.get('type') not in DETECTED_TYPES:
            continue
        found = pixels.get(category['id'])
        if found is None or not len(found):
            log.warning('no annotations of category %r: left out of the model', category['name'])
            continue
        fitted.append(fit_category(category, found, min_area(category, box_areas.get(category['id']))))
    if not fitted:
        raise ValueError('no box or point annotations to fit a color_blobs model from')
    return ColorModel(tuple(fitted), downsample, min_confidence)


def decode_rgb(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as image:
        return np.asarray(image.convert('RGB'))


def demo_samples(categories: list[dict[str, Any]], count: int, seed: int) -> list[Sample]:
    """`count` images of devloop's generator with shapes of `categories` (same seed, same images)."""
    from loopnode.devloop.seed import generated_images

    samples = []
    for item in generated_images('examples', 'color_blobs', categories, {'complete': count}, seed=seed):
        boxes = [(b['category_id'], b['x'], b['y'], b['width'], b['height'])
                 for b in item.annotations['box_annotations']]
        points = [(p['category_id'], p['x'], p['y']) for p in item.annotations['point_annotations']]
        samples.append(Sample(decode_rgb(item.jpeg), boxes, points))
    return samples


def model_zip(model: ColorModel, model_info: dict[str, Any] | None = None) -> bytes:
    """A flat model zip with color_model.json and (if given) model.json."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        if model_info is not None:
            archive.writestr('model.json', json.dumps(model_info, indent=2))
        archive.writestr(MODEL_FILE, json.dumps(model.to_dict(), indent=2))
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Fit a model for devloop's demo categories and write color_model.json (or a zip with --zip)."""
    from loopnode.devloop.seed import demo_categories

    parser = argparse.ArgumentParser(prog='python -m loopnode.examples.color_detector.fit', description=main.__doc__)
    parser.add_argument('--out', type=Path, default=Path(MODEL_FILE), help='output file (.json or .zip)')
    parser.add_argument('--images', type=int, default=16, help='number of generated images to fit on')
    parser.add_argument('--seed', type=int, default=1, help='seed of the generated images')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')
    model = fit_color_model(demo_samples(demo_categories(), args.images, args.seed), demo_categories())
    if args.out.suffix == '.zip':
        args.out.write_bytes(model_zip(model))
    else:
        args.out.write_text(json.dumps(model.to_dict(), indent=2) + '\n', encoding='utf-8')
    log.info('wrote %s (%s)', args.out, ', '.join(f'{c.name}: max_distance {c.max_distance:.2f}, '
                                                   f'min_area {c.min_area}' for c in model.categories))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
