"""Parse detector answers with rosys's own code (rosys 0.37.0, the Socket.IO client robots run).

Runs INSIDE `.venv-compat`, never in loopnode's venv. Reads a JSON object from stdin,
`{"detect": <answer>, "batch_detect": <answer>}`, hands each to the parsing of `rosys.vision.DetectorHardware`
(`_detections_from_dict`, applied to the answer of `detect` and to each of `batch_detect`'s `items`, as
`DetectorHardware._detect` / `_batch_detect` do) and writes `{event: parsed or {"error": text}}` as JSON:
parsed = `{"boxes": n, "points": n, "classifications": n, "segmentations": [[[x, y], ...], ...]}`.
"""
from __future__ import annotations

import json
import logging
import sys
from typing import Any

from rosys.vision.detector_hardware import _detections_from_dict  # the private parser is what robots run


def summary(answer: dict[str, Any]) -> dict[str, Any]:
    detections = _detections_from_dict(answer)
    return {'boxes': len(detections.boxes), 'points': len(detections.points),
            'classifications': len(detections.classifications),
            'segmentations': [[[p.x, p.y] for p in s.shape.points] for s in detections.segmentations]}


def parse(event: str, answer: dict[str, Any]) -> Any:
    try:
        if event == 'batch_detect':
            return [summary(item) for item in answer.get('items', [])]
        return summary(answer)
    except Exception as e:  # noqa: BLE001 - rosys wraps this as 'Failed to parse detections'
        return {'error': f'{type(e).__name__}: {e}'}


def main() -> int:
    logging.disable(logging.WARNING)  # rosys logs its missing config file and TurboJPEG at import
    answers = json.load(sys.stdin)
    sys.stdout.write(json.dumps({event: parse(event, answer) for event, answer in answers.items()}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
