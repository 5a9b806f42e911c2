"""Test logics for the annotator node: they record what they saw so tests can assert on it."""
from __future__ import annotations

import threading
import uuid
from typing import Any

import numpy as np

from loopnode.annotator import AnnotatorLogic, ToolOutput
from loopnode.data import Point, SegmentationAnnotation, Shape, UserInput


class RecordingLogic(AnnotatorLogic):
    """Counts events in the history; `key_down` selects a behaviour: `raise`, `annotate`, `wait:<frontend>`."""

    capabilities = ('segmentation', 'recording')

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int, int]] = []  # frontend, x, y, count in history before this event
        self.logged_out: list[str] = []
        self.gates: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def create_empty_history(self) -> dict[str, Any]:
        return {'count': 0}

    def gate(self, frontend: str) -> threading.Event:
        with self._lock:
            return self.gates.setdefault(frontend, threading.Event())

    def handle_user_input(self, user_input: UserInput, history: Any) -> ToolOutput:
        data = user_input.data
        with self._lock:
            self.seen.append((user_input.frontend_id, data.coordinate.x, data.coordinate.y, history['count']))
        history['count'] += 1
        self.gate(user_input.frontend_id).set()
        if data.key_down == 'raise':
            raise ValueError('x')
        if data.key_down and data.key_down.startswith('wait:'):
            if not self.gate(data.key_down[5:]).wait(10):
                raise TimeoutError('the other frontend was not served meanwhile')
        if data.key_down == 'annotate':
            shape = Shape(points=[Point(x=np.int64(1), y=np.int32(2)), Point(x=3.6, y=np.int64(4))])  # type: ignore[arg-type]
            annotation = SegmentationAnnotation(id=str(uuid.uuid4()), shape=shape, image_id=data.image_uuid,
                                                category_id=data.category.id)
            return ToolOutput(svg='<path d="M 1 2 L 4 4"/>', annotation=annotation)
        return ToolOutput(svg=f'<circle cx="{data.coordinate.x}" cy="{data.coordinate.y}" r="{history["count"]}"/>')

    def logout_user(self, sid: str) -> bool:
        self.logged_out.append(sid)
        return sid.startswith('f')
