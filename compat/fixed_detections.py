"""The fixed detection set answered by the compat and benchmark logics, as plain data.

Imported by the upstream runner (inside .venv-compat / .venv-upstream) and by loopnode's benchmark logic
(inside .venv), so both detectors answer exactly the same detections. No imports on purpose.
"""

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
