"""The detector's local Socket.IO API (detector.md §3): token check on connect, the client sid set, every
event of §3.3 and a catch-all for unknown events. Every handler returns a dict, which becomes the ack;
errors are `{"error": msg}`, never Socket.IO errors. Handlers run in their own threads (async_handlers).
`detect` / `batch_detect` answers carry segmentation shapes as objects, not REST's flattened strings
(`results.with_shape_objects`, a deliberate difference from upstream: rosys parses only the object).
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from flask import request

from ...service.routes import token_ok
from ..images import ImageError, decode_image_dict
from ..pipeline import ApiError
from ..results import DetectParams, ParameterError, detect_params, parse_bool, with_shape_objects
from .protocol import DetectorApi

log = logging.getLogger(__name__)

IMAGE_ERROR = 'could not parse image from data: '
IMAGES_ERROR = 'could not parse images from data: '


def _error(message: str) -> dict[str, str]:
    return {'error': message}


def _payload(data: Any, event: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ParameterError(f'{event} expects a dict payload, got {type(data).__name__}')
    return data


def _params(data: dict[str, Any]) -> DetectParams:
    return detect_params(data.get, created_alias=True)


def register_socketio_handlers(node: DetectorApi) -> None:
    """Mount the handlers of §3.1 and §3.3 on node.socketio."""
    sio = node.socketio
    clients = node.sio_clients
    max_pixels = node.settings.max_image_pixels
    trimmer = node.heap_trimmer

    def handler(event: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
        """Register `fn` for `event`; ApiError/ParameterError become error acks, anything else is logged."""
        def wrap(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
            def run(*args: Any) -> dict[str, Any]:
                try:
                    return fn(*args)
                except (ApiError, ParameterError) as e:
                    return _error(e.message if isinstance(e, ApiError) else str(e))
                except Exception as e:  # noqa: BLE001 - a handler must always ack
                    log.exception('socket.io %s failed', event)
                    return _error(str(e) or type(e).__name__)
            run.__name__ = f'sio_{event}'
            sio.on_event(event, run)
            return fn
        return wrap

    @sio.on('connect')
    def connect(auth: Any = None) -> bool:
        token = node.settings.node_api_token
        if token:
            given = auth.get('token') if isinstance(auth, dict) else None
            if not isinstance(given, str) or not token_ok(token, given):
                from flask_socketio import ConnectionRefusedError  # noqa: A004 - the library's name
                raise ConnectionRefusedError('unauthorized')
        clients.add(request.sid)  # type: ignore[attr-defined]
        return True

    @sio.on('disconnect')
    def disconnect(*_args: Any) -> None:
        clients.discard(request.sid)  # type: ignore[attr-defined]

    def _image(payload: dict[str, Any]) -> tuple[Any, Any]:
        """Decode the required `image` dict of a payload, or answer `could not parse image from data: …`."""
        if 'image' not in payload:
            raise ApiError(400, IMAGE_ERROR + "missing 'image'")
        try:
            return decode_image_dict(payload['image'], max_pixels)
        except ImageError as e:
            raise ApiError(400, IMAGE_ERROR + str(e)) from None

    @handler('detect')
    def detect(data: Any = None, *_extra: Any) -> dict[str, Any]:
        payload = _payload(data, 'detect')
        params = _params(payload)
        node.pipeline.check_ready()
        image, stored = _image(payload)
        trimmer.note(image.nbytes)
        return with_shape_objects(node.pipeline.detect(image, stored, params))

    @handler('batch_detect')
    def batch_detect(data: Any = None, *_extra: Any) -> dict[str, Any]:
        payload = _payload(data, 'batch_detect')
        params = _params(payload)
        node.pipeline.check_ready()
        entries = payload.get('images')
        if not isinstance(entries, (list, tuple)):
            raise ApiError(400, IMAGES_ERROR + f"'images' must be a list of image dicts, got {type(entries).__name__}")
        images, stored = [], []
        for index, entry in enumerate(entries):
            try:
                image, keep = decode_image_dict(entry, max_pixels)
            except ImageError as e:
                raise ApiError(400, f'{IMAGES_ERROR}item {index}: {e}') from None
            images.append(image)
            stored.append(keep)
        trimmer.note(sum(image.nbytes for image in images))
        answers = node.pipeline.batch_detect(images, stored, params) if images else []
        return {'items': [with_shape_objects(answer) for answer in answers]}

    @handler('upload')
    def upload(data: Any = None, *_extra: Any) -> dict[str, Any]:
        payload = _payload(data, 'upload')
        image, stored = _image(payload)
        trimmer.note(image.nbytes)
        priority = parse_bool('upload_priority', payload.get('upload_priority'))
        metadata = node.pipeline.upload_metadata(payload.get('metadata'))
        node.pipeline.store(stored, metadata, priority)
        return {'status': 'OK'}

    @handler('info')
    def info(*_args: Any) -> dict[str, Any]:
        return node.info()

    @handler('about')
    def about(*_args: Any) -> dict[str, Any]:
        return node.about()

    @handler('get_model_version')
    def get_model_version(*_args: Any) -> dict[str, Any]:
        return node.version_response()

    @handler('set_model_version_mode')
    def set_model_version_mode(data: Any = None, *_extra: Any) -> dict[str, Any]:
        if not isinstance(data, str):
            return _error(f'expected a string: follow_loop, pause or a version, got {type(data).__name__}')
        message = node.set_version_control(data)
        return _error(message) if message else {'status': 'OK'}

    @handler('get_outbox_mode')
    def get_outbox_mode(*_args: Any) -> dict[str, Any]:
        return {'outbox_mode': node.outbox_mode()}

    @handler('set_outbox_mode')
    def set_outbox_mode(data: Any = None, *_extra: Any) -> dict[str, Any]:
        try:
            node.set_outbox_mode(data.strip() if isinstance(data, str) else data)
        except ValueError as e:
            return _error(str(e))
        return {'status': 'OK'}

    @handler('soft_reload')
    def soft_reload(*_args: Any) -> dict[str, Any]:
        node.soft_reload()
        return {'status': 'OK'}

    @sio.on('*')
    def unknown_event(event: Any, *_args: Any) -> dict[str, Any]:
        log.debug('unknown socket.io event %r', event)
        return _error(f'unknown event {event!r}')
