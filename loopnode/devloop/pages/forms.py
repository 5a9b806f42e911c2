"""devloop's page forms (POST, then redirect back): the deployment target and trainer commands.

They call the same functions as the admin API (`admin.set_deployment_target`, `admin.send_trainer_command`)
and report the outcome as a message on the page they came from.
"""
from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from ..admin import TRAINER_COMMANDS, send_trainer_command, set_deployment_target
from ..api_request import ApiError
from ..context import DevLoopContext
from ..sockets import SocketHub

log = logging.getLogger(__name__)

FORM_ACK_TIMEOUT = 10.0


def back_to(fallback: str, message: str, error: bool = False) -> Response:
    """Redirect to the form's `next` page (a local path only) with the message in the query."""
    target = request.form.get('next') or fallback
    # browsers drop tabs and newlines from a Location, so '/\t/host' would be '//host': no control characters
    if not target.startswith('/') or target.startswith('//') or '\\' in target or any(c < ' ' for c in target):
        target = fallback
    query = {'msg': message} | ({'error': '1'} if error else {})
    separator = '&' if '?' in target else '?'
    return redirect(f'{target}{separator}{urlencode(query)}', code=303)


def register_forms(bp: Blueprint, ctx: DevLoopContext, hub: SocketHub) -> None:
    @bp.post('/ui/<org>/<project>/target')
    def set_target(org: str, project: str) -> Response:
        page = url_for('pages.project_page', org=org, project=project)
        version = request.form.get('version', '')
        try:
            if not ctx.store.has_project(org, project):
                raise ApiError(404, f'unknown project {org}/{project}')
            if version == '':
                ctx.store.set_target(org, project, None)
                return back_to(page, f'{org}/{project} has no deployment target now')
            model = set_deployment_target(ctx, org, project, version=version)
        except ApiError as e:
            return back_to(page, f'target not changed: {e.detail}', error=True)
        return back_to(page, f'deployment target of {org}/{project} is now {model["version"]}')

    @bp.post('/ui/trainers/<sid>/<command>')
    def trainer_command(sid: str, command: str) -> Response:
        home = url_for('pages.dashboard')
        if command not in TRAINER_COMMANDS:
            return back_to(home, f'unknown command {command}', error=True)
        node = hub.find(sid)
        if node is None:
            return back_to(home, f'{command}: trainer {sid} is not connected', error=True)
        org, _, project = request.form.get('project', f'{node.organization}/{node.project}').partition('/')
        try:
            ack = send_trainer_command(ctx, hub, node, command, org, project, {}, FORM_ACK_TIMEOUT)
        except ApiError as e:
            return back_to(home, f'{command} to {node.name or sid} failed: {e.detail}', error=True)
        ok = isinstance(ack, dict) and ack.get('success') is not False
        return back_to(home, f'{command} sent to {node.name or sid}' + (f' for {org}/{project}' if
                       command == 'begin_training' else '') + f'; ack: {ack}', error=not ok)
