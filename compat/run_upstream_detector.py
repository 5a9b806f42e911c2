"""Run an unmodified learning_loop_node 0.27.0 detector with a tiny logic of our own (format `mocked`).

Runs INSIDE `.venv-compat` (or `.venv-upstream`), never in loopnode's venv. Upstream reads its configuration
from the environment, which the caller sets: LOOP_HOST (host:port, no scheme: upstream prepends http://),
LOOP_ORGANIZATION, LOOP_PROJECT, DATA_FOLDER. Usage:

    DATA_FOLDER=/tmp/d LOOP_HOST=127.0.0.1:8000 LOOP_ORGANIZATION=zauberzeug LOOP_PROJECT=demo \
        .venv-compat/bin/python compat/run_upstream_detector.py --port 5004

The node is built and served the way upstream's own nodes do it (DetectorNode + uvicorn with lifespan).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fixed_detections as fixed  # noqa: E402  (plain data shared with loopnode's bench logic)
import numpy as np  # noqa: E402
import uvicorn  # noqa: E402
from learning_loop_node import DetectorNode  # noqa: E402
from learning_loop_node import data_classes  # noqa: E402
from learning_loop_node.data_classes import ImageMetadata, ImagesMetadata, ModelInformation  # noqa: E402

log = logging.getLogger('compat.upstream')


class FixedLogic:
    """Upstream DetectorLogic answering the fixed detection set; a fresh object per call (upstream mutates it)."""

    def __init__(self, model_info: ModelInformation) -> None:
        self.model_info = model_info

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        return fixed.metadata(data_classes, self.model_info.version)

    def batch_evaluate(self, images: List[np.ndarray]) -> ImagesMetadata:
        return ImagesMetadata(items=[self.evaluate(image) for image in images])


class FixedLogicFactory:
    """Upstream DetectorLogicFactory for format `mocked` (0.27.0: `model_format` + async `build`)."""

    model_format = 'mocked'

    def __init__(self) -> None:
        self.built: List[str] = []

    async def build(self, model_info: ModelInformation) -> FixedLogic:
        self.built.append(model_info.version)
        log.info('built FixedLogic for model %s in %s', model_info.version, model_info.model_root_path)
        return FixedLogic(model_info)


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--name', default='upstream-compat-detector')
    parser.add_argument('--log-level', default='info')
    args = parser.parse_args(argv)
    node = DetectorNode(args.name, FixedLogicFactory())
    uvicorn.run(node, host=args.host, port=args.port, lifespan='on', log_level=args.log_level)
    return 0


if __name__ == '__main__':
    sys.exit(main())
