"""The detector's own web page at `/` (detector.md §2 is the API it shows): model, version control, operation
mode, outbox counters, the Loop connection and errors, and a form that runs an image through `/detect`'s code
and draws the detections over it. Every change of state is a POST form. See docs/pages.md.

`register_detector_page(node)` mounts it; the page needs only the narrow `PageNode` interface. The token
check of the node's API (NODE_API_TOKEN) covers these routes as well.
"""
from __future__ import annotations

import base64
import io
import logging
from typing import Any, Mapping, Protocol
from urllib.parse import urlencode

import numpy as np
from flask import Blueprint, Flask, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from loopnode.service.pagekit import (Palette, add_server_timing, labels_of, point_radius, refuse_cross_site_posts,
                                      register_pagekit, shapes_of)

from ..images import ImageError, decode_encoded
from ..pipeline import ApiError
from ..results import ParameterError, detect_params

log = logging.getLogger(__name__)

VERSION_MODES = ('follow_loop', 'pause')
OUTBOX_MODES = ('continuous_upload', 'stopped')
OPERATION_MODES = ('idle', 'detecting')
AUTOUPLOAD_CHOICES = ('disabled', 'filtered', 'all')
DISPLAY_SIZE = 1280


class PageNode(Protocol):
    """What the page needs from a DetectorNode (the REST API's surface plus the parts `GET /status` reads)."""

    @property
    def app(self) -> Flask: ...

    @property
    def settings(self) -> Any: ...

    @property
    def pipeline(self) -> Any: ...

    @property
    def model_manager(self) -> Any: ...

    @property
    def loop_http(self) -> Any: ...

    @property
    def status_sender(self) -> Any: ...

    @property
    def operation_mode(self) -> str: ...

    def status_record(self) -> dict[str, Any]: ...

    def status_extra(self) -> dict[str, Any]: ...

    def set_version_control(self, text: str) -> str | None: ...

    def set_operation_mode(self, text: str) -> None: ...

    def set_outbox_mode(self, text: str) -> None: ...


def display_jpeg(pixels: np.ndarray) -> str:
    """A data: URL of the decoded pixels (what the model saw, EXIF rotation applied), so shapes line up.

    At most DISPLAY_SIZE pixels on the long side: the SVG keeps the image's own coordinates and scales it.
    """
    from PIL import Image  # on first use of the page's form (Pillow costs ~2.5 MiB of idle RSS)
    out = io.BytesIO()
    image = Image.fromarray(pixels)
    image.thumbnail((DISPLAY_SIZE, DISPLAY_SIZE))
    image.save(out, format='JPEG', quality=85)
    return 'data:image/jpeg;base64,' + base64.b64encode(out.getvalue()).decode('ascii')


def model_palette(node: PageNode) -> Palette:
    info = node.model_manager.slot.active_info
    categories = [] if info is None else [c.to_dict() for c in info.categories]
    return Palette(categories)


def overview(node: PageNode) -> dict[str, Any]:
    """Everything the page shows besides a detection result (the same data as `GET /status`)."""
    info = node.model_manager.slot.active_info
    health = node.loop_http.health
    return {'status': node.status_record(), 'extra': node.status_extra(),
            'categories': [] if info is None else [c.to_dict() for c in info.categories],
            'model_info': None if info is None else info.to_dict(),
            'loop_info': {'host': node.settings.loop_host, 'organization': node.settings.loop_organization,
                     'project': node.settings.loop_project, 'last_ok': health.last_ok, 'last_error': health.last_error,
                     'status_posts': node.status_sender.sent, 'failed_posts': node.status_sender.failed},
            'version_modes': VERSION_MODES, 'outbox_modes': OUTBOX_MODES, 'operation_modes': OPERATION_MODES,
            'autoupload_choices': AUTOUPLOAD_CHOICES}


def detection_view(result: Mapping[str, Any], pixels: np.ndarray, palette: Palette) -> dict[str, Any]:
    height, width = pixels.shape[:2]
    return {'href': display_jpeg(pixels), 'width': width, 'height': height,
            'shapes': shapes_of(result, palette, point_radius(width, height)), 'labels': labels_of(result, palette),
            'counts': {k: len(result.get(k) or []) for k in ('box_detections', 'point_detections',
                                                            'segmentation_detections', 'classification_detections')}}


def register_detector_page(node: PageNode) -> None:
    """Mount `/` and its POST forms on the node's app."""
    register_pagekit(node.app)
    bp = Blueprint('detector_page', __name__, template_folder='templates')
    add_server_timing(bp)
    refuse_cross_site_posts(bp)
    max_pixels = node.settings.max_image_pixels

    def page(status: int = 200, **extra: Any) -> tuple[str, int]:
        args = {'flash': request.args.get('msg'), 'flash_error': request.args.get('error') == '1'} | extra
        return render_template('detector_page/index.html', **overview(node), **args), status

    def back(message: str, error: bool = False) -> Response:
        query = {'msg': message} | ({'error': '1'} if error else {})
        return redirect(url_for('detector_page.index') + '?' + urlencode(query), code=303)

    @bp.get('/')
    def index() -> tuple[str, int]:
        return page()

    @bp.post('/page/detect')
    def detect() -> tuple[str, int]:
        """The form's image through the same steps as `POST /detect` (autoupload defaults to disabled)."""
        form = request.form
        try:
            params = detect_params(lambda name: form.get(name) if name != 'autoupload'
                                   else form.get(name) or 'disabled')
            upload = request.files.get('file')
            if upload is None or not upload.filename:
                raise ParameterError('choose an image file first')
            node.pipeline.check_ready()
            data = upload.read()
            try:
                pixels = decode_encoded(data, max_pixels)
            except ImageError as e:
                raise ApiError(400, f"could not decode image '{upload.filename}': {e}") from None
            result = node.pipeline.detect(pixels, data, params)
        except (ApiError, ParameterError) as e:
            status = e.status if isinstance(e, ApiError) else 400
            return page(status, flash=f'detection failed: {e}', flash_error=True)
        return page(detection=detection_view(result, pixels, model_palette(node)), filename=upload.filename,
                    autoupload=params.autoupload)

    @bp.post('/page/version_control')
    def version_control() -> Response:
        mode = request.form.get('version', '').strip() or request.form.get('mode', '')
        message = node.set_version_control(mode)
        return back(f'version control not changed: {message}', True) if message else back(f'version control: {mode}')

    @bp.post('/page/outbox_mode')
    def outbox_mode() -> Response:
        mode = request.form.get('mode', '')
        try:
            node.set_outbox_mode(mode)
        except ValueError as e:
            return back(f'outbox mode not changed: {e}', True)
        return back(f'outbox mode: {mode}')

    @bp.post('/page/operation_mode')
    def operation_mode() -> Response:
        mode = request.form.get('mode', '')
        if mode not in OPERATION_MODES:
            return back(f'operation mode not changed: {mode!r} is not one of {", ".join(OPERATION_MODES)}', True)
        node.set_operation_mode(mode)
        return back(f'operation mode: {mode}')

    node.app.register_blueprint(bp)


__all__ = ['PageNode', 'register_detector_page']
