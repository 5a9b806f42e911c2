"""devloop's admin routes for annotator nodes: drive `handle_user_input` / `user_logout`, see what they sent.

    GET  /admin/annotators                           connected annotation nodes + their status history
    POST /admin/annotators/{key}/handle_user_input   body {"user_input": <anything>}: sent verbatim (to try
                                                     malformed input too); else shorthand fields (below)
                                                     that devloop completes; returns {"ack": …}
    POST /admin/annotators/{key}/user_logout         body {"sid": "f1"}; returns {"ack": …}
    GET  /admin/annotators/annotations               received update_segmentation_annotation payloads

`key` is a Socket.IO sid, a node uuid, or `any` (the most recently connected annotation node). Shorthand
body: `frontend_id` (default `"f1"`), `event_type` (default `left_mouse_down`), `x`, `y` (default 10, 10),
`image_uuid` (default: the project's first image), `organization`/`project` (default the demo project),
`category_id` (default: the project's first segmentation category, else its first), `key_up`, `key_down`,
`epsilon`, `is_shift_key_pressed`; `timeout` (s, default 30) for any route.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from .api_request import ApiError, read_json_object, require_project
from .context import DevLoopContext
from .seed import DEMO_ORG, DEMO_PROJECT
from .sockets import NodeGoneError, NodeInfo, SocketHub

ANNOTATOR_TYPE = 'annotation_node'
DEFAULT_TIMEOUT = 30.0
OPTIONAL_KEYS = ('key_up', 'key_down', 'epsilon', 'is_shift_key_pressed')


def register(admin: Blueprint, ctx: DevLoopContext, hub: SocketHub) -> None:
    """Mount the annotator routes on the admin blueprint."""

    def annotator(key: str) -> NodeInfo:
        if key == 'any':
            nodes = [n for n in hub.nodes() if n['node_type'] == ANNOTATOR_TYPE]
            node = hub.find(nodes[-1]['sid']) if nodes else None
        else:
            node = hub.find(key)
        if node is None or node.node_type != ANNOTATOR_TYPE:
            raise ApiError(404, f'no connected annotation node with sid or uuid {key}')
        return node

    def emit(node: NodeInfo, event: str, args: list[Any], body: dict[str, Any]) -> Response:
        timeout = body.get('timeout', DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
            raise ApiError(422, 'timeout: expected a number of seconds in (0, 600]')
        try:
            ack = hub.call(node.sid, event, args, float(timeout))
        except TimeoutError as e:
            raise ApiError(504, str(e)) from None
        except NodeGoneError as e:
            raise ApiError(502, str(e)) from None
        return jsonify({'ack': ack, 'sid': node.sid, 'uuid': node.uuid})

    @admin.get('/annotators')
    def annotators() -> Response:
        statuses: dict[str, list[Any]] = {}
        for record in ctx.store.received('annotator_status'):
            statuses.setdefault(record['key'], []).append(record)
        return jsonify({
            'connected': [n for n in hub.nodes() if n['node_type'] == ANNOTATOR_TYPE],
            'statuses': [{'uuid': key, 'received_at': recs[-1]['received_at'], 'latest': recs[-1]['payload']['payload'],
                          'problem': recs[-1]['payload']['problem'],
                          'history': [r['payload']['payload'] for r in recs]} for key, recs in statuses.items()]})

    @admin.get('/annotators/annotations')
    def annotations() -> Response:
        return jsonify({'annotations': ctx.store.received('segmentation_annotation')})

    @admin.post('/annotators/<key>/handle_user_input')
    def handle_user_input(key: str) -> Response:
        node = annotator(key)
        body = read_json_object()
        user_input = body['user_input'] if 'user_input' in body else user_input_from(body)
        return emit(node, 'handle_user_input', [user_input], body)

    @admin.post('/annotators/<key>/user_logout')
    def user_logout(key: str) -> Response:
        node = annotator(key)
        body = read_json_object()
        sid = body.get('sid', 'f1')
        if not isinstance(sid, str):
            raise ApiError(422, 'sid: expected a string')
        return emit(node, 'user_logout', [sid], body)

    def user_input_from(body: dict[str, Any]) -> dict[str, Any]:
        """A UserInput built from the shorthand fields, with the project's image and category as defaults."""
        org = body.get('organization', DEMO_ORG)
        project = body.get('project', DEMO_PROJECT)
        if not isinstance(org, str) or not isinstance(project, str):
            raise ApiError(422, 'organization and project: expected strings')
        require_project(ctx, org, project)
        image_uuid = body.get('image_uuid')
        if image_uuid is None:
            ids = ctx.store.image_ids(org, project)
            if not ids:
                raise ApiError(422, f'project {org}/{project} has no images; give image_uuid')
            image_uuid = ids[0]
        categories = ctx.store.categories(org, project)
        wanted = body.get('category_id')
        matching = [c for c in categories if c['id'] == wanted] if wanted is not None else \
            [c for c in categories if c.get('type') == 'segmentation'] or categories
        if not matching:
            raise ApiError(422, f'no category {wanted} in {org}/{project}')
        data = {'coordinate': {'x': body.get('x', 10), 'y': body.get('y', 10)},
                'event_type': body.get('event_type', 'left_mouse_down'),
                'context': {'organization': org, 'project': project}, 'image_uuid': image_uuid,
                'category': matching[0]}
        data.update({k: body[k] for k in OPTIONAL_KEYS if k in body})
        return {'frontend_id': body.get('frontend_id', 'f1'), 'data': data}
