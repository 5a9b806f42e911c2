"""The detector's local REST API (detector.md §2): detect, upload, about, model/outbox/operation modes,
soft_reload and the `/reset` backdoor, served for a `DetectorApi`. The common routes (/healthz, /readyz,
/status, …) come from `loopnode.service.routes`; the detector fills them through DetectorNode's hooks.
"""
from __future__ import annotations

import io
import json
import logging
from typing import Any, Callable

from flask import Request, Response, request

from ...service.routes import error_response, text_body
from ..images import ImageError, decode_encoded, open_encoded
from ..pipeline import ApiError
from ..results import (CREATION_DATE_NAMES, ParameterError, detect_params, first_given, parse_bool,
                      parse_creation_date, parse_tags, plain_upload_metadata)
from .protocol import DetectorApi

log = logging.getLogger(__name__)


class InMemoryRequest(Request):
    """Keeps multipart file parts in memory (bodies are capped at 64 MiB), so /detect never touches the disk."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> io.BytesIO:
        return io.BytesIO()


def json_response(value: Any, status: int = 200) -> Response:
    """JSON with the keys in record order (Flask's jsonify would sort them)."""
    return Response(json.dumps(value, separators=(',', ':')), status=status, mimetype='application/json')


def text_response(value: str) -> Response:
    return Response(value, mimetype='text/plain')


def api_error(e: ApiError | ParameterError) -> tuple[Response, int]:
    if isinstance(e, ApiError):
        return error_response(e.status, e.message)
    return error_response(400, str(e))


def header_then_query(name: str) -> str | None:
    """A /detect parameter: the header wins over the query parameter of the same name (§2.2)."""
    value = request.headers.get(name)
    return value if value is not None else request.args.get(name)


def query_then_header(name: str) -> str | None:
    """A /upload parameter: the query parameter wins over the header of the same name (§2.3)."""
    value = request.args.get(name)
    return value if value is not None else request.headers.get(name)


def register_rest_routes(node: DetectorApi) -> None:
    """Mount every detector route of §2 on node.app."""
    app = node.app
    app.request_class = InMemoryRequest
    max_pixels = node.settings.max_image_pixels

    @app.post('/detect')
    def detect() -> Any:
        try:
            params = detect_params(header_then_query)
            upload = request.files.get('file')
            if upload is None:
                raise ParameterError("multipart field 'file' is required")
            node.pipeline.check_ready()
            data = upload.stream.getvalue() if isinstance(upload.stream, io.BytesIO) else upload.read()
            try:
                image = decode_encoded(data, max_pixels)
            except ImageError as e:
                raise ApiError(400, f"could not decode image '{upload.filename}': {e}") from None
            return json_response(node.pipeline.detect(image, data, params))
        except (ApiError, ParameterError) as e:
            return api_error(e)

    @app.post('/upload')
    def upload() -> Any:
        try:
            files = request.files.getlist('files')
            if not files:
                raise ParameterError("multipart field 'files' is required")
            source = query_then_header('source')
            created = parse_creation_date(first_given(query_then_header, CREATION_DATE_NAMES))
            priority = parse_bool('upload_priority', query_then_header('upload_priority'))
            tags = parse_tags(query_then_header('tags'))
            state = query_then_header('state') or None
            contents = []
            for f in files:
                data = f.read()
                try:
                    open_encoded(data, max_pixels)
                except ImageError as e:
                    raise ApiError(400, f"could not decode image '{f.filename}': {e}") from None
                contents.append(data)
            metadata = [plain_upload_metadata(source=source, created=created, state=state, tags=tags)
                        for _ in contents]
            node.pipeline.store_all(contents, metadata, priority)  # all files stored, or none (issue 10)
            return json_response({'status': 'OK', 'count': len(contents)})
        except (ApiError, ParameterError) as e:
            return api_error(e)

    @app.get('/about')
    def about() -> Any:
        return json_response(node.about())

    @app.get('/model_version')
    def get_model_version() -> Any:
        return json_response(node.version_response())

    @app.put('/model_version')
    def put_model_version() -> Any:
        message = node.set_version_control(text_body())
        return error_response(400, message) if message else json_response('OK')

    @app.get('/outbox_mode')
    def get_outbox_mode() -> Any:
        return text_response(node.outbox_mode())

    @app.put('/outbox_mode')
    def put_outbox_mode() -> Any:
        try:
            node.set_outbox_mode(text_body())
        except ValueError as e:
            return error_response(422, f'Could not set outbox mode: {e}')
        return json_response('OK')

    @app.get('/operation_mode')
    def get_operation_mode() -> Any:
        return text_response(node.operation_mode)

    @app.put('/operation_mode')
    def put_operation_mode() -> Any:
        try:
            node.set_operation_mode(text_body())
        except ValueError as e:
            return error_response(422, str(e))
        return json_response('OK')

    @app.post('/soft_reload')
    def soft_reload() -> Any:
        node.soft_reload()
        return json_response({'status': 'OK'})

    if node.settings.use_backdoor_controls:
        _register_backdoor(app, node.reset)


def _register_backdoor(app: Any, reset: Callable[[], None]) -> None:
    @app.post('/reset')
    def reset_route() -> Any:
        reset()
        return json_response(True)
