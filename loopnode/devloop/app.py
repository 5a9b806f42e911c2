"""devloop's Flask app: the Loop's REST API (loop-protocol.md §5, §11.2), login modes and JSON errors.

Routes live in `api_images.py`, `api_models.py` and `api_converter.py` (all on the `/api` blueprint made
here) and in `admin.py`; the request readers and `ApiError` they share are in `api_request.py`.
Every error answer is JSON `{"detail": …}`; nothing a client sends can make a handler crash the server.
"""
from __future__ import annotations

import logging
import secrets
from typing import Any, Callable

from flask import Blueprint, Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from loopnode.data import DataError

from . import api_converter, api_images, api_models
from .api_request import ApiError, error_response, require_project
from .context import DevLoopContext
from .faults import AUTH_COOKIE
from .modelzip import ModelFilesError
from .store import StoreError
from .uploads import UploadError

log = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_BYTES = 256 * 1024 * 1024
# endpoints that need no login cookie in login/strict mode (§11.1)
OPEN_ENDPOINTS = {'api.status', 'api.login', 'api.model_file', 'api.upload_images'}


def create_app(ctx: DevLoopContext, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> Flask:
    """The Flask app with the `/api` routes; `server.build_app` adds Socket.IO and `/admin`."""
    app = Flask('loopnode.devloop')
    app.config['MAX_CONTENT_LENGTH'] = max_upload_bytes
    app.config['MAX_FORM_MEMORY_SIZE'] = max_upload_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    _register_errors(app)
    api = Blueprint('api', __name__, url_prefix='/api')
    _register_auth(api, ctx)
    _register_session_routes(api, ctx)
    api_images.register(api, ctx)
    api_models.register(api, ctx)
    api_converter.register(api, ctx)
    app.register_blueprint(api)
    return app


def _register_errors(app: Flask) -> None:
    handlers: dict[type[Exception], Callable[[Any], Response]] = {
        ApiError: lambda e: error_response(e.status, e.detail),
        StoreError: lambda e: error_response(e.status, e.detail),
        UploadError: lambda e: error_response(422, str(e)),
        ModelFilesError: lambda e: error_response(422, str(e)),
        DataError: lambda e: error_response(422, str(e)),
        HTTPException: lambda e: error_response(e.code or 500, e.description),
    }
    for kind, handler in handlers.items():
        app.register_error_handler(kind, handler)

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Response:
        log.exception('unexpected error in %s %s', request.method, request.path)
        return error_response(500, f'internal error: {type(e).__name__}: {e}')


def _register_auth(api: Blueprint, ctx: DevLoopContext) -> None:
    @api.before_request
    def check_login_and_project() -> Response | None:
        g.user = ctx.store.session_user(request.cookies.get(AUTH_COOKIE))
        if ctx.auth.cookie_required and request.endpoint not in OPEN_ENDPOINTS and g.user is None:
            return error_response(401, 'not logged in: POST /api/login first')
        args = request.view_args or {}
        if 'org' in args and 'project' in args:
            require_project(ctx, args['org'], args['project'])
        return None


def _register_session_routes(api: Blueprint, ctx: DevLoopContext) -> None:
    @api.get('/status')
    def status() -> Response:
        return jsonify({'status': 'ok', 'name': 'devloop', 'auth': ctx.auth.mode})

    @api.post('/login')
    def login() -> Response:
        username = request.form.get('username', '')
        password = request.form.get('password', '')
        if not ctx.auth.accepts(username, password):
            return error_response(401, 'invalid credentials')
        cookie = secrets.token_urlsafe(24)
        ctx.store.add_session(cookie, username)
        response = jsonify({'detail': 'logged in', 'user': username})
        response.set_cookie(AUTH_COOKIE, cookie, httponly=True, samesite='Lax', path='/')
        return response

    @api.post('/logout')
    def logout() -> Response:
        cookie = request.cookies.get(AUTH_COOKIE)
        if cookie:
            ctx.store.drop_session(cookie)
        response = jsonify({'detail': 'logged out'})
        response.delete_cookie(AUTH_COOKIE, path='/')
        return response

    @api.get('/projects')
    def projects() -> Response:
        return jsonify({'projects': [
            {'organization_id': org, 'project_id': project, 'name': project,
             'resource': f'/{org}/projects/{project}'} for org, project in ctx.store.projects()]})

    @api.get('/<org>/projects/<project>')
    def project_details(org: str, project: str) -> Response:
        return jsonify({'organization_id': org, 'project_id': project, 'name': project,
                        'resource': f'/{org}/projects/{project}',
                        'categories': ctx.store.categories(org, project)})

    @api.delete('/<org>/projects/<project>')
    def delete_project(org: str, project: str) -> Response:
        keep = request.args.get('keep_images', 'false').lower() in ('1', 'true', 'yes')
        ctx.store.delete_project(org, project, keep_images=keep)
        return jsonify({'detail': f'project {org}/{project} deleted'})
