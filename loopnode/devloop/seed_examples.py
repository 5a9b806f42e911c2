"""Seed hooks that add the examples' model formats to devloop's demo project (loop-protocol.md §11.4).

`color_blobs_hook` fits the example colour detector (`loopnode.examples.color_detector`) to the demo project's
categories and attaches format `color_blobs` to every demo model (1.0, 1.1 = deployment target, 1.2), next
to their `mocked` format, which stays unchanged. It is idempotent: versions that have the format are skipped,
so it can also run on a data folder that was seeded without it. Pass it as `DevLoop(..., seed_hooks=[...])`.
"""
from __future__ import annotations

import importlib
import logging
from types import ModuleType

from .seed import DEMO_MODELS, DEMO_ORG, DEMO_PROJECT, SeedHook, add_model_format
from .store import Store

log = logging.getLogger(__name__)

COLOR_BLOBS_FORMAT = 'color_blobs'
FIT_IMAGES = 12
FIT_SEED = 1


def _color_detector_fit() -> ModuleType:
    try:
        return importlib.import_module('loopnode.examples.color_detector.fit')
    except ModuleNotFoundError as e:
        raise RuntimeError('the color_blobs demo model needs the package loopnode.examples.color_detector '
                           f'(run from the repository root or put it on PYTHONPATH): {e}') from None


def color_blobs_hook(store: Store) -> None:
    """Attach a fitted `color_blobs` format to every demo model that lacks it (no-op without the demo project)."""
    if not store.has_project(DEMO_ORG, DEMO_PROJECT):
        return
    missing = [version for version in DEMO_MODELS
               if (model := store.model(DEMO_ORG, DEMO_PROJECT, version=version)) is not None
               and COLOR_BLOBS_FORMAT not in model['formats']]
    if not missing:
        return
    fit = _color_detector_fit()
    categories = store.categories(DEMO_ORG, DEMO_PROJECT)
    model = fit.fit_color_model(fit.demo_samples(categories, FIT_IMAGES, FIT_SEED), categories)
    zip_bytes = fit.model_zip(model)
    for version in missing:
        add_model_format(store, DEMO_PROJECT, version, COLOR_BLOBS_FORMAT, zip_bytes)
    log.info('demo project: format %s added to models %s', COLOR_BLOBS_FORMAT, ', '.join(missing))


def example_seed_hooks() -> tuple[SeedHook, ...]:
    """The seed hooks for a demo devloop that serves the examples' formats."""
    return (color_blobs_hook,)
