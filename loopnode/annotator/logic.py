"""The AnnotatorLogic API (annotator-converter.md §A6) and its ToolOutput (§A4)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..data import Context, SegmentationAnnotation, UserInput


class AnnotatorNodeView(Protocol):
    """What a logic may use of its node (`AnnotatorNode` provides it)."""

    uuid: str
    name: str

    def image_path(self, context: Context | dict[str, Any], image_uuid: str) -> Path:
        """Absolute path of the cached image."""


@dataclass
class ToolOutput:
    """What a logic returns for one event: the SVG preview (`""` clears it) and optionally a finished annotation."""

    svg: str = ''
    annotation: SegmentationAnnotation | None = None


class AnnotatorLogic(ABC):
    """An interactive annotation tool. Hooks run synchronously in the frontend's worker thread.

    One instance serves every user: keep per-user state in `history` (made by `create_empty_history`).
    `self.node` (set by `init`) gives `image_path(context, image_uuid)`, `uuid` and `name`.
    """

    capabilities: tuple[str, ...] | list[str] = ('segmentation',)
    node: AnnotatorNodeView | None = None

    def init(self, node: AnnotatorNodeView) -> None:
        """Called by the node at construction; stores `self.node`."""
        self.node = node

    @abstractmethod
    def handle_user_input(self, user_input: UserInput, history: Any) -> ToolOutput:
        """Process one event (the image is cached already); may mutate `history`; raise to fail the event."""

    @abstractmethod
    def create_empty_history(self) -> Any:
        """New per-frontend state (dict or object)."""

    @abstractmethod
    def logout_user(self, sid: str) -> bool:
        """A user left; return whether anything was known about them."""
