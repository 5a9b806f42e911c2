"""devloop's web pages (`/` and `/ui/...`): server-rendered views of projects, images, models, trainings
and nodes, plus POST forms for the deployment target and trainer commands. See docs/pages.md.
"""
from __future__ import annotations

from flask import Blueprint, Flask, render_template
from werkzeug.exceptions import HTTPException

from loopnode.service.pagekit import add_server_timing, refuse_cross_site_posts, register_pagekit

from ..context import DevLoopContext
from ..sockets import SocketHub
from .forms import register_forms
from .views import register_views


def create_blueprint(ctx: DevLoopContext, hub: SocketHub) -> Blueprint:
    """The `pages` blueprint; errors inside it answer an HTML page instead of devloop's JSON."""
    bp = Blueprint('pages', __name__, template_folder='templates')
    add_server_timing(bp)
    refuse_cross_site_posts(bp)
    register_views(bp, ctx, hub)
    register_forms(bp, ctx, hub)

    @bp.errorhandler(HTTPException)
    def html_error(e: HTTPException) -> tuple[str, int]:
        return render_template('devloop_pages/error.html', code=e.code, message=e.description), e.code or 500
    return bp


def register_pages(app: Flask, ctx: DevLoopContext, hub: SocketHub) -> None:
    """Mount the pages (and the shared page kit's templates) on devloop's app."""
    register_pagekit(app)
    app.register_blueprint(create_blueprint(ctx, hub))


__all__ = ['create_blueprint', 'register_pages']
