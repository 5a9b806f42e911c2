"""Shared kit of the server-rendered pages (devloop's UI, the detector's page): base layout, SVG overlay
macros, the `Server-Timing` header and the pure drawing model in `overlay.py`.

Templates are Jinja with autoescaping on (`.html`), so every name or tag a node sends is shown as text.
"""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, g, request

from .overlay import Drawn, Label, Palette, labels_of, point_radius, shapes_of

KIT_BLUEPRINT = 'pagekit'


def register_pagekit(app: Flask) -> None:
    """Make the kit's templates (`pagekit/base.html`, `pagekit/overlay.html`) available to `app` (idempotent)."""
    if KIT_BLUEPRINT not in app.blueprints:
        app.register_blueprint(Blueprint(KIT_BLUEPRINT, __name__, template_folder='templates'))


def add_server_timing(bp: Blueprint) -> None:
    """Every answer of `bp` carries `Server-Timing: app;dur=<ms>` (what bench/pages_first_page.py reads)."""
    @bp.before_request
    def start_clock() -> None:
        g.page_started = time.perf_counter()

    @bp.after_request
    def stamp(response: Response) -> Response:
        started: Any = g.get('page_started')
        if started is not None:
            response.headers['Server-Timing'] = f'app;dur={(time.perf_counter() - started) * 1000:.1f}'
        return response


def refuse_cross_site_posts(bp: Blueprint) -> None:
    """A POST to `bp` from another site's page gets 403 (the pages' forms must not be a CSRF door).

    Browsers send `Origin` (and `Sec-Fetch-Site`) with form posts; clients without them (curl) are let through.
    """
    @bp.before_request
    def same_site_only() -> tuple[str, int] | None:
        if request.method != 'POST':
            return None
        origin = request.headers.get('Origin')
        fetch_site = request.headers.get('Sec-Fetch-Site')
        if fetch_site in ('cross-site', 'same-site') or (origin is not None and urlsplit(origin).netloc != request.host):
            return 'refused: a form of another site posted to this page', 403
        return None


__all__ = ['Drawn', 'Label', 'Palette', 'add_server_timing', 'labels_of', 'point_radius', 'refuse_cross_site_posts',
           'register_pagekit', 'shapes_of']
