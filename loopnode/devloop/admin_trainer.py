"""devloop admin routes for the trainer side (loop-protocol.md §11.5): the files a trainer uploaded per format.

`GET /admin/models/{model_id}/{format}/files` lists the files of a stored model format (name, size);
`…/files/{name}` returns one of them as stored, so a test can compare what a trainer uploaded byte by byte.
"""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .app import ApiError
from .context import DevLoopContext
from .modelzip import files_from_zip


def create_blueprint(ctx: DevLoopContext) -> Blueprint:
    admin = Blueprint('admin_trainer', __name__, url_prefix='/admin')

    def stored_files(model_id: str, fmt: str) -> dict[str, bytes]:
        path = ctx.store.model_zip_path(model_id, fmt)
        if '/' in model_id or '/' in fmt or not path.is_file():
            raise ApiError(404, f'no stored format {fmt} for model {model_id}')
        return files_from_zip(path.read_bytes())

    @admin.get('/models/<model_id>/<fmt>/files')
    def model_files(model_id: str, fmt: str) -> Response:
        files = stored_files(model_id, fmt)
        return jsonify({'model_id': model_id, 'format': fmt,
                        'files': [{'name': name, 'size': len(content)} for name, content in sorted(files.items())]})

    @admin.get('/models/<model_id>/<fmt>/files/<path:name>')
    def model_file(model_id: str, fmt: str, name: str) -> Response:
        files = stored_files(model_id, fmt)
        if name not in files:
            raise ApiError(404, f'model {model_id} ({fmt}) has no file {name}')
        return Response(files[name], mimetype='application/octet-stream')

    return admin
