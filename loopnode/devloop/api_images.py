"""REST routes about images: data ids, image records, JPEG files, the outbox upload and trainer detections."""
from __future__ import annotations

import io
import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file
from PIL import Image

from loopnode.data import DataError, Detections

from .api_request import ApiError, read_json, read_parts
from .context import DevLoopContext
from .store import IMAGE_STATES
from .uploads import image_from_pair, pair_image_parts

log = logging.getLogger(__name__)

MAX_IDS_PER_REQUEST = 100
MAX_DETECTIONS_PER_REQUEST = 100
THUMB_SIZE = (160, 120)
_EMPTY_LISTS = ('box_detections', 'point_detections', 'segmentation_detections', 'classification_detections')


def image_data(row: dict[str, Any], org: str, project: str) -> dict[str, Any]:
    """The ImageData record of a stored image (loop-protocol.md §7.7)."""
    annotations = row['annotations']
    resource = f'/{org}/projects/{project}/images/{row["id"]}'
    record = {'id': row['id'], 'set': row['image_set'], 'state': row['state'], 'created': row['created'],
              'width': row['width'], 'height': row['height'], 'resource': f'{resource}/main',
              'thumbnail': f'{resource}/thumb',
              'box_annotations': annotations.get('box_annotations', []),
              'point_annotations': annotations.get('point_annotations', []),
              'segmentation_annotations': annotations.get('segmentation_annotations', []),
              'classification_annotation': annotations.get('classification_annotation')}
    for key in _EMPTY_LISTS:
        record[key] = annotations.get(key, [])
    record['tags'] = annotations.get('tags', [])
    return record


def register(api: Blueprint, ctx: DevLoopContext) -> None:
    store = ctx.store

    @api.get('/<org>/projects/<project>/data')
    def data(org: str, project: str) -> Response:
        state = request.args.get('state') or None
        if state is not None and state not in IMAGE_STATES:
            raise ApiError(422, f'state must be one of {", ".join(IMAGE_STATES)}')
        return jsonify({'image_ids': store.image_ids(org, project, state),
                        'categories': store.categories(org, project)})

    @api.get('/<org>/projects/<project>/images')
    def images(org: str, project: str) -> Response:
        ids = [i for i in request.args.get('ids', '').split(',') if i]
        if len(ids) > MAX_IDS_PER_REQUEST:
            raise ApiError(400, f'at most {MAX_IDS_PER_REQUEST} ids per request')
        rows = store.image_rows(org, project, ids) if ids else []
        return jsonify({'images': [image_data(row, org, project) for row in rows]})

    def _image_row(org: str, project: str, image_id: str) -> dict[str, Any]:
        rows = store.image_rows(org, project, [image_id])
        if not rows or not store.image_path(image_id).exists():
            raise ApiError(404, f'unknown image {image_id}')
        return rows[0]

    @api.get('/<org>/projects/<project>/images/<image_id>/main')
    def image_main(org: str, project: str, image_id: str) -> Response:
        _image_row(org, project, image_id)
        return send_file(store.image_path(image_id), mimetype='image/jpeg', max_age=0)

    @api.get('/<org>/projects/<project>/images/<image_id>/thumb')
    def image_thumb(org: str, project: str, image_id: str) -> Response:
        _image_row(org, project, image_id)
        with Image.open(store.image_path(image_id)) as image:
            image.thumbnail(THUMB_SIZE)
            out = io.BytesIO()
            image.convert('RGB').save(out, format='JPEG', quality=80)
        return Response(out.getvalue(), mimetype='image/jpeg')

    @api.post('/<org>/projects/<project>/images')
    def upload_images(org: str, project: str) -> Response:
        pairs = pair_image_parts(read_parts())
        categories = store.categories(org, project)
        new_images = [image_from_pair(pair, categories) for pair in pairs]
        ids = store.add_images(org, project, new_images)
        log.info('received %d image(s) for %s/%s', len(ids), org, project)
        return jsonify({'ids': ids})

    @api.post('/<org>/projects/<project>/detections')
    def detections(org: str, project: str) -> Response:
        body = read_json()
        if not isinstance(body, list):
            raise ApiError(422, 'body must be a JSON array of Detections')
        if len(body) > MAX_DETECTIONS_PER_REQUEST:
            raise ApiError(422, f'at most {MAX_DETECTIONS_PER_REQUEST} Detections per request')
        for index, item in enumerate(body):
            try:
                Detections.from_dict(item, path=f'[{index}]')
            except DataError as e:
                raise ApiError(422, str(e)) from None
        known = {row['id'] for row in store.image_rows(org, project, [item['image_id'] for item in body])}
        unknown = sorted({item['image_id'] for item in body} - known)
        if unknown:
            raise ApiError(422, f'unknown image_id(s): {", ".join(unknown)}')
        store.add_received('detections', [(item['image_id'], item) for item in body], org, project)
        return jsonify({'count': len(body)})


__all__ = ['image_data', 'register']
