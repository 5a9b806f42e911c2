"""DetectorApi: what the REST and Socket.IO handlers need from the node (DetectorNode provides it).

A Protocol, so the API modules depend on this narrow surface instead of importing the node (no import circle).
"""
from __future__ import annotations

from typing import Any, Protocol

from flask import Flask
from flask_socketio import SocketIO

from ...service.memory import HeapTrimmer
from ...settings import Settings
from ..pipeline import DetectionPipeline
from .clients import ClientSet


class DetectorApi(Protocol):
    """The node as its local APIs see it: the server objects, the pipeline and the mode/answer methods."""

    @property
    def app(self) -> Flask: ...

    @property
    def socketio(self) -> SocketIO: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def pipeline(self) -> DetectionPipeline: ...

    @property
    def sio_clients(self) -> ClientSet: ...

    @property
    def heap_trimmer(self) -> HeapTrimmer: ...

    @property
    def operation_mode(self) -> str: ...

    def set_operation_mode(self, text: str) -> None:
        """ValueError for anything but startup/idle/detecting."""

    def set_version_control(self, text: str) -> str | None:
        """None on success, else the error message."""

    def version_response(self) -> dict[str, Any]: ...

    def outbox_mode(self) -> str: ...

    def set_outbox_mode(self, text: str) -> None:
        """ValueError for an unknown mode."""

    def about(self) -> dict[str, Any]: ...

    def info(self) -> dict[str, Any]: ...

    def soft_reload(self) -> None: ...

    def reset(self) -> None: ...
