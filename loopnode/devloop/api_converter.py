"""devloop's converter side: `PUT P/models/{id}/{format}/file` (loop-protocol.md §5.10, §11.2 #11) and the
admin record of what converters uploaded (`GET /admin/received/conversions`).

The upload adds the format to an existing model: unknown model → 404, format already there → 409
`{"detail": {"id": …, "message": "format already exists"}}`, no files or a broken model.json → 422. Each
accepted upload is recorded with the model, the format and the file names, so tests and people can see
that the converted files arrived (`GET P/models/{id}/{format}/file` serves them).
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from .api_request import read_parts
from .context import DevLoopContext
from .modelzip import check_format_name
from .seed import model_zip_maker
from .uploads import model_upload

log = logging.getLogger(__name__)

RECEIVED_KIND = 'converter_upload'


def register(api: Blueprint, ctx: DevLoopContext) -> None:
    """Mount the converter upload on the `/api` blueprint."""
    store = ctx.store

    @api.put('/<org>/projects/<project>/models/<model_id>/<fmt>/file')
    def converter_upload(org: str, project: str, model_id: str, fmt: str) -> Response:
        check_format_name(fmt)
        upload = model_upload(read_parts())
        model = store.add_model_format(org, project, b'', fmt, model_id=model_id,
                                       zip_for=model_zip_maker(store, org, project, upload.files, fmt, upload.info))
        files = sorted(upload.files) + (['model.json'] if upload.info else [])
        store.add_received(RECEIVED_KIND, [(model['id'], {'model_id': model['id'], 'version': model['version'],
                                                          'format': fmt, 'files': files,
                                                          'model_json': upload.info or None})], org, project)
        log.info('converter uploaded format %s of model %s (%s): %s', fmt, model['version'], model['id'],
                 ', '.join(files))
        return jsonify({'id': model['id'], 'version': model['version']})


def admin_blueprint(ctx: DevLoopContext) -> Blueprint:
    """`GET /admin/received/conversions[?org=&project=&format=]`: converter uploads, oldest first."""
    admin = Blueprint('admin_converter', __name__, url_prefix='/admin')

    @admin.get('/received/conversions')
    def received_conversions() -> Response:
        org, project, fmt = request.args.get('org'), request.args.get('project'), request.args.get('format')
        rows = [r for r in ctx.store.received(RECEIVED_KIND)
                if (not org or r['organization'] == org) and (not project or r['project'] == project)
                and (not fmt or r['payload']['format'] == fmt)]
        return jsonify({'conversions': rows})

    return admin
