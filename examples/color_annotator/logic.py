"""`MagicWandLogic`: the magic-wand gesture as an AnnotatorLogic (annotator-converter.md §A6).

The image comes from the node's cache (`self.node.image_path`); each frontend's gesture lives in its
history; a release sends a `SegmentationAnnotation` of the simplified outline for the event's category.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

import numpy as np
from PIL import Image

from loopnode.annotator import AnnotatorLogic, ToolOutput
from loopnode.data import AnnotationEventType, Point, SegmentationAnnotation, Shape, UserInput

from .tool import WandGesture

log = logging.getLogger(__name__)

DEFAULT_COLOR = '#00ff00'


def load_rgb(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert('RGB'))


class MagicWandLogic(AnnotatorLogic):
    """Click: seed a region of similar colour; move: preview its outline; release: commit it; Escape: cancel."""

    capabilities = ['segmentation']

    def create_empty_history(self) -> WandGesture:
        return WandGesture()

    def logout_user(self, sid: str) -> bool:
        return False  # nothing is kept outside the histories, which the node drops

    def handle_user_input(self, user_input: UserInput, history: Any) -> ToolOutput:
        gesture: WandGesture = history
        data = user_input.data
        x, y = int(data.coordinate.x), int(data.coordinate.y)
        color = data.category.color or DEFAULT_COLOR
        event = AnnotationEventType(data.event_type)
        if event == AnnotationEventType.KeyUp and data.key_up == 'Escape':
            gesture.cancel()
            return ToolOutput('')
        if event == AnnotationEventType.LeftMouseDown:
            if self.node is None:
                raise RuntimeError('the logic is not attached to a node')
            path = self.node.image_path(data.context, data.image_uuid)
            return ToolOutput(gesture.press(load_rgb(str(path)), x, y, color).svg)
        if event == AnnotationEventType.MouseMove:
            return ToolOutput(gesture.move(x, y, color).svg)
        if event == AnnotationEventType.LeftMouseUp:
            step = gesture.release(x, y)
            if step.polygon is None:
                return ToolOutput('')
            annotation = SegmentationAnnotation(
                id=str(uuid.uuid4()), shape=Shape(points=[Point(x=px, y=py) for px, py in step.polygon]),
                image_id=data.image_uuid, category_id=data.category.id)
            log.info('magic wand: %d-point segmentation of %s for image %s', len(step.polygon),
                     data.category.name, data.image_uuid)
            return ToolOutput('', annotation)
        return ToolOutput('')
