"""Routes every node serves (loop-protocol.md §10.5) and the NODE_API_TOKEN check."""
from __future__ import annotations

import hmac
import logging
from typing import Any, Callable, Protocol

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from werkzeug.exceptions import HTTPException

from ..loop.http import LoopHttp
from ..settings import Settings
from .httpd.environ import request_path
from .httpd.parse import HttpError, RequestHead
from .sockets import SOCKETIO_PATH

OPEN_PATHS = frozenset({'/healthz'})


def error_response(status: int, message: str) -> tuple[Response, int]:
    """The error body of every node: `{"error": msg, "detail": msg}` (detail keeps FastAPI clients working)."""
    return jsonify({'error': message, 'detail': message}), status


def text_body() -> str:
    """A PUT text body with surrounding whitespace and one pair of double quotes stripped (`"pause"` works)."""
    text = request.get_data(as_text=True).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text.strip()


def token_ok(expected: str | None, given: str | None) -> bool:
    """Constant-time check of a bearer token; always true when no token is configured."""
    if not expected:
        return True
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def head_token_check(token: str | None) -> Callable[[RequestHead], HttpError | None] | None:
    """The server's check of a chunked request's head: the token check of `check_token` below, made before
    the body is spooled (a 401 costs no disk); None without a token. Socket.IO checks its own (connect auth)."""
    if not token:
        return None

    def check(head: RequestHead) -> HttpError | None:
        path = request_path(head.target)
        if path in OPEN_PATHS or path.startswith(SOCKETIO_PATH):
            return None
        header = next((value for name, value in head.headers if name.lower() == 'authorization'), '')
        given = header[len('Bearer '):] if header.startswith('Bearer ') else None
        return None if token_ok(token, given) else HttpError(401, 'unauthorized')
    return check


class ServedNode(Protocol):
    """What the common routes need from a node (NodeService provides it; a Protocol keeps node.py out)."""

    loop_muted: bool

    @property
    def app(self) -> Flask: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def registry(self) -> CollectorRegistry: ...

    @property
    def loop_http(self) -> LoopHttp: ...

    @property
    def stopping(self) -> bool: ...

    def dead_threads(self) -> list[str]: ...

    def readiness_reason(self) -> str | None: ...

    def readiness_extra(self) -> dict[str, Any]: ...

    def status_record(self) -> dict[str, Any]: ...

    def status_extra(self) -> dict[str, Any]: ...

    def loop_connected(self) -> bool | None: ...

    def on_loop_socket(self, on: bool) -> None: ...


def register_common_routes(node: ServedNode) -> None:
    """Mount /healthz, /readyz, /status, /metrics, /debug_logging, /socketio and the token check on node.app."""
    app = node.app

    @app.before_request
    def check_token() -> Any:
        if not node.settings.node_api_token or request.path in OPEN_PATHS:
            return None
        header = request.headers.get('Authorization', '')
        given = header[len('Bearer '):] if header.startswith('Bearer ') else None
        if not token_ok(node.settings.node_api_token, given):
            return error_response(401, 'unauthorized')
        return None

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Any:
        """Every error answers JSON: werkzeug's HTTP errors keep their code, anything else is a 500."""
        if isinstance(e, HTTPException):
            return error_response(e.code or 500, e.description or e.name)
        logging.getLogger(__name__).exception('unexpected error in %s %s', request.method, request.path)
        return error_response(500, f'{type(e).__name__}: {e}')

    @app.errorhandler(413)
    def too_large(_e: Exception) -> Any:
        return error_response(413, 'request body larger than 64 MiB')

    @app.errorhandler(404)
    def not_found(_e: Exception) -> Any:
        return error_response(404, f'no route {request.method} {request.path}')

    @app.errorhandler(405)
    def not_allowed(_e: Exception) -> Any:
        return error_response(405, f'method {request.method} not allowed for {request.path}')

    @app.get('/healthz')
    def healthz() -> Any:
        dead = node.dead_threads()
        if dead:
            return jsonify({'status': 'error', 'dead_threads': dead}), 500
        return jsonify({'status': 'ok'})

    @app.get('/readyz')
    def readyz() -> Any:
        reason = 'stopping' if node.stopping else node.readiness_reason()
        if reason is not None:
            return jsonify({'status': 'not ready', 'reason': reason}), 503
        return jsonify({'status': 'ready', **node.readiness_extra()})

    @app.get('/status')
    def status() -> Any:
        return jsonify({'node': node.status_record(), 'loop': node.loop_state(), **node.status_extra()})

    @app.get('/metrics')
    def metrics() -> Any:
        return Response(generate_latest(node.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.put('/debug_logging')
    def debug_logging() -> Any:
        value = text_body()
        if value not in ('on', 'off'):
            return error_response(400, f"expected 'on' or 'off', got {value!r}")
        level = logging.DEBUG if value == 'on' else node.settings.log_level
        logging.getLogger('loopnode').setLevel(level)
        return jsonify(value)

    @app.put('/socketio')
    def socketio_toggle() -> Any:
        value = text_body()
        if value not in ('on', 'off'):
            return error_response(400, f"expected 'on' or 'off', got {value!r}")
        node.loop_muted = value == 'off'
        node.on_loop_socket(value == 'on')
        return jsonify(value)
