"""What devloop's route modules share: `ApiError`, the JSON error answer and request body readers."""
from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, request

from .context import DevLoopContext


class ApiError(Exception):
    """An error answer: HTTP `status` with JSON body `{"detail": detail}`."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def error_response(status: int, detail: Any) -> Response:
    response = jsonify({'detail': detail})
    response.status_code = status
    return response


def read_json() -> Any:
    """The request body as JSON; 422 when it is not JSON."""
    data = request.get_data(cache=True)
    try:
        return json.loads(data) if data else None
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(422, f'body is not valid JSON: {e}') from None


def read_json_object() -> dict[str, Any]:
    body = read_json()
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(422, 'body must be a JSON object')
    return body


def read_parts() -> list[tuple[str, bytes]]:
    """All uploaded multipart files as (filename, content); 422 when the body is not multipart."""
    if request.mimetype != 'multipart/form-data':
        raise ApiError(422, f'expected multipart/form-data, got {request.mimetype or "no body"}')
    try:
        files = request.files
    except ValueError as e:
        raise ApiError(422, f'malformed multipart body: {e}') from None
    return [(f.filename or '', f.read()) for key in files for f in files.getlist(key)]


def require_project(ctx: DevLoopContext, org: str, project: str) -> None:
    if not ctx.store.has_project(org, project):
        raise ApiError(404, f'unknown project {org}/{project}')


def loop_host() -> str:
    """The Loop host as nodes should see it (`host[:port]` of this request)."""
    return request.host
