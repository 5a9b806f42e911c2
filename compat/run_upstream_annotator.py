"""Run an unmodified learning_loop_node 0.27.0 annotator node with a tiny tool of our own.

Runs INSIDE `.venv-compat`, never in loopnode's venv. Configuration comes from the environment the caller sets:
LOOP_HOST (host:port, no scheme), LOOP_ORGANIZATION, LOOP_PROJECT, DATA_FOLDER. Usage:

    DATA_FOLDER=/tmp/d LOOP_HOST=127.0.0.1:8000 LOOP_ORGANIZATION=zauberzeug LOOP_PROJECT=demo \
        .venv-compat/bin/python compat/run_upstream_annotator.py --port 5006

The tool answers every event with a circle at the event's coordinate whose radius counts the frontend's events;
`key_down == "Enter"` also produces a segmentation annotation (a triangle at the coordinate).
"""
from __future__ import annotations

import argparse
import logging
import sys
import uuid
from typing import Dict, List

import uvicorn
from learning_loop_node.annotation.annotator_logic import AnnotatorLogic
from learning_loop_node.annotation.annotator_node import AnnotatorNode
from learning_loop_node.data_classes import Point, SegmentationAnnotation, Shape, ToolOutput, UserInput

log = logging.getLogger('compat.upstream_annotator')


class CircleTool(AnnotatorLogic):
    """Upstream AnnotatorLogic: `<circle cx=x cy=y r=n/>` with n the frontend's event count."""

    def create_empty_history(self) -> Dict:
        return {'events': 0}

    async def handle_user_input(self, user_input: UserInput, history: Dict) -> ToolOutput:
        history['events'] += 1
        x, y = user_input.data.coordinate.x, user_input.data.coordinate.y
        svg = f'<circle cx="{x}" cy="{y}" r="{history["events"]}" fill="red"/>'
        annotation = None
        if user_input.data.key_down == 'Enter':
            points: List[Point] = [Point(x=x, y=y), Point(x=x + 10, y=y), Point(x=x, y=y + 10)]
            annotation = SegmentationAnnotation(id=str(uuid.uuid4()), shape=Shape(points=points),
                                                image_id=user_input.data.image_uuid,
                                                category_id=user_input.data.category.id)
        return ToolOutput(svg=svg, annotation=annotation)

    def logout_user(self, sid: str) -> bool:
        return True


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--name', default='upstream-compat-annotator')
    parser.add_argument('--log-level', default='info')
    args = parser.parse_args(argv)
    node = AnnotatorNode(args.name, CircleTool())
    uvicorn.run(node, host=args.host, port=args.port, lifespan='on', log_level=args.log_level)
    return 0


if __name__ == '__main__':
    sys.exit(main())
