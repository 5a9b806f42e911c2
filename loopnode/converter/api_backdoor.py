"""Backdoor routes of the converter (annotator-converter.md §B7), mounted with USE_BACKDOOR_CONTROLS; for tests."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from flask import jsonify

from ..service.routes import error_response, text_body

if TYPE_CHECKING:
    from flask import Flask

    from .runner import PassReport
    from .schedule import PassLoop


class BackdoorHost(Protocol):
    """The part of the converter node these routes use."""

    app: 'Flask'
    passes: 'PassLoop[PassReport]'


def register_backdoor_routes(node: BackdoorHost) -> None:
    """`PUT /check_state on|off` and `POST /step`."""
    app = node.app

    @app.put('/check_state')
    def check_state() -> Any:
        value = text_body()
        if value not in ('on', 'off'):
            return error_response(400, f"expected 'on' or 'off', got {value!r}")
        if not node.passes.set_automatic(value == 'on'):
            return error_response(409, 'Could not skip auto checking. State is still not idle')
        return jsonify(value)

    @app.post('/step')
    def step() -> Any:
        if not node.passes.request_pass():
            if node.passes.stop_event.is_set():
                return error_response(503, 'the converter is stopping')
            return error_response(409, 'converter is already running')
        report = node.passes.last_report
        return jsonify(None if report is None else report.to_dict())
