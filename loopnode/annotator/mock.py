"""MockAnnotatorLogic (annotator-converter.md §A6): draws one box per frontend, never makes annotations."""
from __future__ import annotations

from typing import Any

from ..data import AnnotationEventType, UserInput
from .logic import AnnotatorLogic, ToolOutput

OTHER_EVENT_SVG = 'some_svg_response_from_node'


def box_svg(x1: int, y1: int, x2: int, y2: int) -> str:
    """A blue rect spanning two corners: min corner, absolute size, at least 1 px."""
    return (f'<rect x="{min(x1, x2)}" y="{min(y1, y2)}" width="{max(1, abs(x2 - x1))}" '
            f'height="{max(1, abs(y2 - y1))}" fill="blue"/>')


class MockAnnotatorLogic(AnnotatorLogic):
    """`left_mouse_down` starts a box, `mouse_move` drags its second corner, `left_mouse_up` ends it (`""`).

    Any other event answers `some_svg_response_from_node`; a `mouse_move` without a box answers `""`. The box
    lives in the history, so two users never share one.
    """

    def create_empty_history(self) -> dict[str, Any]:
        return {'box': None}

    def handle_user_input(self, user_input: UserInput, history: Any) -> ToolOutput:
        event = user_input.data.event_type
        x, y = user_input.data.coordinate.x, user_input.data.coordinate.y
        if event == AnnotationEventType.LeftMouseDown:
            history['box'] = (x, y)
            return ToolOutput(svg=box_svg(x, y, x + 1, y + 1))
        if event == AnnotationEventType.MouseMove:
            if history.get('box') is None:
                return ToolOutput(svg='')
            x1, y1 = history['box']
            return ToolOutput(svg=box_svg(x1, y1, x, y))
        if event == AnnotationEventType.LeftMouseUp:
            history['box'] = None
            return ToolOutput(svg='')
        return ToolOutput(svg=OTHER_EVENT_SVG)

    def logout_user(self, sid: str) -> bool:
        return True
