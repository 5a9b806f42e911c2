"""The fixed detection set answered by the compat and benchmark logics, as plain data.

Imported by the upstream runner (inside .venv-compat / .venv-upstream) and by loopnode's benchmark logic
(inside .venv), so both detectors answer exactly the same detections. No imports on purpose: `metadata`
takes the data classes of whichever library calls it (loopnode's and upstream's share the field names).
"""
from typing import Any

CONFIDENCE = 0.42

BOXES = [
    {'category_name': 'some box', 'category_id': 'box-id', 'x': 120, 'y': 64, 'width': 40, 'height': 38},
    {'category_name': 'some box', 'category_id': 'box-id', 'x': 300, 'y': 200, 'width': 80, 'height': 60},
    {'category_name': 'some box', 'category_id': 'box-id', 'x': 500, 'y': 380, 'width': 32, 'height': 30},
]
POINTS = [
    {'category_name': 'purple point', 'category_id': 'point-id', 'x': 300.5, 'y': 210.0},
    {'category_name': 'purple point', 'category_id': 'point-id', 'x': 100.25, 'y': 400.75},
]
SEGMENTATIONS = [
    {'category_name': 'some segmentation', 'category_id': 'seg-id',
     'points': [(10, 10), (60, 10), (60, 40), (35, 55), (10, 40)]},
]
CLASSIFICATIONS = [
    {'category_name': 'some class', 'category_id': 'class-id'},
]


def metadata(classes: Any, model_name: str) -> Any:
    """A fresh ImageMetadata of the fixed set, built from `classes` (a module with the data classes)."""
    c = classes
    return c.ImageMetadata(
        box_detections=[c.BoxDetection(category_name=b['category_name'], x=b['x'], y=b['y'], width=b['width'],
                                       height=b['height'], model_name=model_name, confidence=CONFIDENCE,
                                       category_id=b['category_id']) for b in BOXES],
        point_detections=[c.PointDetection(category_name=p['category_name'], x=p['x'], y=p['y'],
                                           model_name=model_name, confidence=CONFIDENCE, category_id=p['category_id'])
                          for p in POINTS],
        segmentation_detections=[c.SegmentationDetection(
            category_name=s['category_name'], shape=c.Shape(points=[c.Point(x=x, y=y) for x, y in s['points']]),
            model_name=model_name, confidence=CONFIDENCE, category_id=s['category_id']) for s in SEGMENTATIONS],
        classification_detections=[c.ClassificationDetection(category_name=k['category_name'], model_name=model_name,
                                                             confidence=CONFIDENCE, category_id=k['category_id'])
                                   for k in CLASSIFICATIONS])
