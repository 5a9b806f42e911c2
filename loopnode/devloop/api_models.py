"""REST routes about models, trainings, detector statuses, the deployment target and the test endpoints (T1–T3)."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from loopnode.data import DataError, DetectorStatus

from .api_request import ApiError, loop_host, read_json, read_json_object, read_parts
from .context import DevLoopContext
from .modelzip import (check_format_name, complete_model_json, files_from_zip, parse_model_json, with_model_json,
                       zip_from_files)
from .seed import ProjectSpec, create_project, model_zip_maker
from .store import IMAGE_STATES, STATUS_HISTORY, Store, parse_version
from .uploads import model_upload
from .verbatim import add_verbatim_format, is_verbatim

log = logging.getLogger(__name__)


def model_entry(model: dict[str, Any], host: str | None) -> dict[str, Any]:
    """ModelListEntry (loop-protocol.md §5.7), every field present."""
    return {'id': model['id'], 'version': model['version'], 'formats': model['formats'], 'created': model['created'],
            'comment': model['comment'], 'host': host}


def served_zip(store: Store, org: str, project: str, model: dict[str, Any], fmt: str, host: str) -> bytes:
    """The stored zip of a format, flat, with model.json completed for this host."""
    files = files_from_zip(store.model_zip_path(model['id'], fmt).read_bytes())
    info = parse_model_json(files.pop('model.json', None))
    info = complete_model_json(info, model_id=model['id'], organization=org, project=project,
                               version=model['version'], fmt=fmt, categories=store.categories(org, project),
                               host=host)
    return zip_from_files(with_model_json(files, info))


def query_flag(name: str) -> bool:
    """A boolean query parameter (`true`/`1`/`yes`, `false`/`0`/`no`/absent); 422 for anything else."""
    value = request.args.get(name, '').strip().lower()
    if value in ('', 'false', '0', 'no'):
        return False
    if value in ('true', '1', 'yes'):
        return True
    raise ApiError(422, f'{name}: expected true or false, got {value!r}')


def upload_zip_format(ctx: DevLoopContext, org: str, project: str, fmt: str) -> Response:
    """R1: multipart `files` = one zip → a new version in `fmt` (or `?version=` to attach to an existing one).

    Test options: `?raw=true` stores and serves the bytes verbatim; `?allow_duplicate_version=true` with
    `?version=` creates another model with that version instead of attaching to it.
    """
    check_format_name(fmt)
    parts = read_parts()
    if len(parts) != 1:
        raise ApiError(422, f'expected exactly one zip file, got {len(parts)} part(s)')
    version = request.args.get('version') or None
    raw, duplicate = query_flag('raw'), query_flag('allow_duplicate_version')
    if duplicate:
        try:
            parse_version(version or '')
        except ValueError:
            raise ApiError(422, 'allow_duplicate_version needs ?version=x.y') from None
    if raw:
        model = add_verbatim_format(ctx.store, org, project, fmt, parts[0][1], version=version, new_model=duplicate)
    else:
        files = files_from_zip(parts[0][1])
        info = parse_model_json(files.pop('model.json', None))
        model = ctx.store.add_model_format(org, project, b'', fmt, version=version, new_model=duplicate,
                                           must_exist=version is not None and not duplicate,
                                           zip_for=model_zip_maker(ctx.store, org, project, files, fmt, info))
    log.info('model %s (%s) got format %s by upload%s', model['version'], model['id'], fmt,
             ' (verbatim)' if raw else '')
    return jsonify({'id': model['id'], 'version': model['version']})


def generator_spec(org: str, body: dict[str, Any]) -> ProjectSpec:
    """T1 body → ProjectSpec; 422 for wrong types."""
    name = body.get('project_name')
    if not isinstance(name, str) or not name:
        raise ApiError(422, 'project_name: expected a non-empty string')

    def count(key: str, default: int = 0) -> int:
        value = body.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 10000:
            raise ApiError(422, f'{key}: expected an int in [0, 10000]')
        return value
    return ProjectSpec(organization=org, project=name, counts={s: count(s) for s in IMAGE_STATES},
                       boxes=count('box_categories', 1), points=count('point_categories', 1),
                       segmentations=count('segmentation_categories'),
                       classifications=count('classification_categories'), trainings=count('trainings'),
                       seed=count('seed'))


def register(api: Blueprint, ctx: DevLoopContext) -> None:
    store = ctx.store
    p = '/<org>/projects/<project>'

    @api.get(p + '/models')
    def models(org: str, project: str) -> Response:
        fmt = request.args.get('format') or None
        return jsonify({'models': [model_entry(m, loop_host()) for m in store.models(org, project, fmt)]})

    @api.get(p + '/models/<model_id>/<fmt>/file')
    def model_file(org: str, project: str, model_id: str, fmt: str) -> Response:
        model = store.model(org, project, model_id=model_id)
        if model is None:
            raise ApiError(404, f'unknown model {model_id}')
        if fmt not in model['formats']:
            raise ApiError(404, f'model {model_id} has no format {fmt}')
        if is_verbatim(store, model['id'], fmt):
            content = store.model_zip_path(model['id'], fmt).read_bytes()
        else:
            content = served_zip(store, org, project, model, fmt, loop_host())
        response = Response(content, mimetype='application/zip')
        response.headers['Content-Disposition'] = f'attachment; filename="model_{model["version"]}_{fmt}.zip"'
        return response

    @api.put(p + '/trainings/<int:number>/models/latest/<fmt>/file')
    def trainer_upload(org: str, project: str, number: int, fmt: str) -> Response:
        check_format_name(fmt)
        upload = model_upload(read_parts())
        details = store.training(org, project, number) or {}
        hyper = details.get('hyperparameters') if isinstance(details.get('hyperparameters'), dict) else {}
        resolution = hyper.get('resolution') if isinstance(hyper.get('resolution'), int) else None
        info = dict(upload.info)
        if 'categories' not in info and isinstance(details.get('categories'), list):
            info['categories'] = details['categories']
        model = store.add_model_format(org, project, b'', fmt, training_number=number,
                                       zip_for=model_zip_maker(store, org, project, upload.files, fmt, info,
                                                               resolution=resolution))
        store.add_received('model_upload', [(str(number), {'model_id': model['id'], 'version': model['version'],
                                                          'format': fmt, 'files': sorted(upload.files)})],
                           org, project)
        log.info('training %d uploaded format %s → model %s (%s)', number, fmt, model['version'], model['id'])
        return jsonify({'id': model['id'], 'version': model['version']})

    @api.post(p + '/<fmt>')
    def upload_format(org: str, project: str, fmt: str) -> Response:
        return upload_zip_format(ctx, org, project, fmt)

    @api.post(p + '/detectors')
    def detector_status(org: str, project: str) -> Response:
        body = read_json()
        try:
            status = DetectorStatus.from_dict(body, round_ints=True)
        except DataError as e:
            raise ApiError(422, str(e)) from None
        store.add_received('detector_status', [(status.uuid, body)], org, project, keep=STATUS_HISTORY)
        return jsonify({'detail': 'ok'})

    @api.get(p + '/deployment/target')
    def deployment_target(org: str, project: str) -> Response:
        target = store.target(org, project)
        if target is None:
            raise ApiError(404, 'no deployment target')
        return jsonify({'model_uuid': target['id'], 'version': target['version']})

    @api.get(p + '/trainings')
    def trainings(org: str, project: str) -> Response:
        newest_first = list(reversed(store.models(org, project)))
        data = [{'model_id': m['id'], 'version': m['version'], 'training_number': m['training_number'],
                 'created': m['created']} for m in newest_first]
        return jsonify({'charts': [{'name': 'models', 'data': data}] if data else []})

    @api.post('/<org>/projects/generator')
    def generator(org: str) -> Response:
        spec = generator_spec(org, read_json_object())
        if store.has_project(org, spec.project):
            store.delete_project(org, spec.project)
        summary = create_project(store, spec)
        return jsonify({'id': spec.project, 'organization_id': org, 'project_id': spec.project,
                        'image_ids': summary['image_ids'], 'categories': summary['categories']})


__all__ = ['generator_spec', 'model_entry', 'query_flag', 'register', 'served_zip', 'upload_zip_format']
