"""devloop's admin API under /admin (loop-protocol.md §11.5, §11.6): JSON, no auth, never faulted."""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from . import admin_annotator
from .api_models import upload_zip_format
from .api_request import ApiError, read_json_object, require_project
from .context import DevLoopContext
from .faults import FaultSpecError, HttpFault, SocketFault
from .seed import DEMO_ORG, DEMO_PROJECT, ProjectSpec, create_project
from .sockets import NodeGoneError, NodeInfo, SocketHub
from .store import IMAGE_STATES

log = logging.getLogger(__name__)

DEFAULT_ACK_TIMEOUT = 30.0
NODE_EVENTS = ('begin_training', 'stop_training', 'abort_training', 'restart', 'handle_user_input', 'user_logout')
TRAINER_COMMANDS = ('begin_training', 'stop_training', 'abort_training', 'restart')
STATUS_KINDS = {'detectors': 'detector_status', 'trainers': 'trainer_status', 'annotators': 'annotator_status'}


def _int_arg(name: str, default: int | None, low: int = 0, high: int = 10**6) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ''):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, f'{name}: expected an int') from None
    if not low <= value <= high:
        raise ApiError(422, f'{name}: expected an int in [{low}, {high}]')
    return value


def _timeout(body: dict[str, Any]) -> float:
    value = body.get('timeout', request.args.get('timeout', DEFAULT_ACK_TIMEOUT))
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        raise ApiError(422, 'timeout: expected a number of seconds') from None
    if isinstance(value, bool) or not 0 < timeout <= 600:
        raise ApiError(422, 'timeout: expected a number of seconds in (0, 600]')
    return timeout


def project_spec(body: dict[str, Any]) -> ProjectSpec:
    """Body of `POST /admin/projects` → ProjectSpec; 422 for wrong types."""
    def integer(key: str, default: int, high: int = 10000) -> int:
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            raise ApiError(422, f'{key}: expected an int in [0, {high}]')
        return value

    def name(key: str, default: str | None) -> str:
        value = body.get(key, default)
        if not isinstance(value, str) or not value or '/' in value:
            raise ApiError(422, f'{key}: expected a non-empty string without "/"')
        return value
    states = body.get('states')
    if states is None:
        counts = {'complete': integer('images', 10)}
    elif isinstance(states, dict) and all(k in IMAGE_STATES for k in states):
        counts = {state: integer_value(state, n) for state, n in states.items()}
    else:
        raise ApiError(422, f'states: expected an object with keys from {", ".join(IMAGE_STATES)}')
    return ProjectSpec(organization=name('organization', DEMO_ORG), project=name('project', None), counts=counts,
                       boxes=integer('box_categories', 1, 10), points=integer('point_categories', 1, 10),
                       segmentations=integer('segmentation_categories', 0, 10),
                       classifications=integer('classification_categories', 0, 10),
                       trainings=integer('trainings', 0, 10), seed=integer('seed', 0, 2**31))


def integer_value(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10000:
        raise ApiError(422, f'states.{key}: expected an int in [0, 10000]')
    return value


def set_deployment_target(ctx: DevLoopContext, org: str, project: str, *, version: str | None = None,
                          model_id: str | None = None) -> dict[str, Any]:
    """Make the model with `model_id` (else `version`) the target of org/project; 404 ApiError if unknown."""
    model = ctx.store.model(org, project, model_id=model_id, version=None if model_id else version)
    if model is None:
        raise ApiError(404, f'unknown model {model_id or version}')
    ctx.store.set_target(org, project, model['id'])
    log.info('deployment target of %s/%s is now %s', org, project, model['version'])
    return model


def emit_and_wait(hub: SocketHub, node: NodeInfo, event: str, args: list[Any], timeout: float) -> Any:
    """Emit to a node and return its ack; 504 ApiError without an ack in time, 502 when the node went away."""
    try:
        return hub.call(node.sid, event, args, timeout)
    except TimeoutError as e:
        raise ApiError(504, str(e)) from None
    except NodeGoneError as e:
        raise ApiError(502, str(e)) from None


def training_details(store: Any, org: str, project: str, body: dict[str, Any]) -> dict[str, Any]:
    """`begin_training` details with defaults for missing keys (project categories, next number)."""
    details = dict(body)
    details.setdefault('categories', store.categories(org, project))
    details.setdefault('training_number', store.next_training_number(org, project))
    details.setdefault('model_variant', '')
    details.setdefault('hyperparameters', {'resolution': 320, 'flip_rl': False, 'flip_ud': False})
    return details


def send_trainer_command(ctx: DevLoopContext, hub: SocketHub, node: NodeInfo, command: str, org: str,
                         project: str, details: dict[str, Any], timeout: float) -> Any:
    """`/admin/trainers/<key>/<command>` and the page's trainer form: emit the command, return the ack.

    `begin_training` completes `details` for org/project and records the training before emitting.
    """
    if command not in TRAINER_COMMANDS:
        raise ApiError(404, f'unknown command {command}: expected one of {", ".join(TRAINER_COMMANDS)}')
    if command != 'begin_training':
        return emit_and_wait(hub, node, command, [], timeout)
    require_project(ctx, org, project)
    details = training_details(ctx.store, org, project, details)
    if isinstance(details.get('training_number'), int):
        ctx.store.add_training(org, project, details['training_number'], details)
    return emit_and_wait(hub, node, 'begin_training', [org, project, details], timeout)


def create_blueprint(ctx: DevLoopContext, hub: SocketHub) -> Blueprint:
    admin = Blueprint('admin', __name__, url_prefix='/admin')
    store = ctx.store

    @admin.post('/reset')
    def reset() -> Response:
        ctx.reset()
        return jsonify({'detail': f'reset to seed {ctx.seed!r}'})

    @admin.get('/projects')
    def projects() -> Response:
        return jsonify({'projects': [
            {'organization': org, 'project': project, 'categories': store.categories(org, project),
             'images': {s: len(store.image_ids(org, project, s)) for s in IMAGE_STATES},
             'models': [{'id': m['id'], 'version': m['version'], 'formats': m['formats']}
                        for m in store.models(org, project)]} for org, project in store.projects()]})

    @admin.post('/projects')
    def create_generated_project() -> Response:
        spec = project_spec(read_json_object())
        if store.has_project(spec.organization, spec.project):
            raise ApiError(409, f'project {spec.organization}/{spec.project} exists')
        return jsonify(create_project(store, spec))

    @admin.put('/<org>/projects/<project>/deployment/target')
    def set_target(org: str, project: str) -> Response:
        require_project(ctx, org, project)
        body = read_json_object()
        if not body:
            store.set_target(org, project, None)
            return jsonify({'model_uuid': None, 'version': None})
        version, model_id = body.get('version'), body.get('model_uuid')
        if not isinstance(version, (str, type(None))) or not isinstance(model_id, (str, type(None))):
            raise ApiError(422, 'version and model_uuid must be strings')
        model = set_deployment_target(ctx, org, project, version=version, model_id=model_id)
        return jsonify({'model_uuid': model['id'], 'version': model['version']})

    @admin.post('/<org>/projects/<project>/<fmt>')
    def upload_format(org: str, project: str, fmt: str) -> Response:
        require_project(ctx, org, project)
        return upload_zip_format(ctx, org, project, fmt)

    @admin.get('/nodes')
    def nodes() -> Response:
        return jsonify({'nodes': hub.nodes()})

    def node_or_404(key: str) -> NodeInfo:
        node = hub.find(key)
        if node is None:
            raise ApiError(404, f'no connected node with sid or uuid {key}')
        return node

    def emit(node: NodeInfo, event: str, args: list[Any], timeout: float) -> Response:
        return jsonify({'ack': emit_and_wait(hub, node, event, args, timeout), 'sid': node.sid, 'uuid': node.uuid})

    @admin.post('/nodes/<key>/emit')
    def emit_to_node(key: str) -> Response:
        body = read_json_object()
        event, args = body.get('event'), body.get('args', [])
        if event not in NODE_EVENTS:
            raise ApiError(422, f'event: expected one of {", ".join(NODE_EVENTS)}')
        if not isinstance(args, list):
            raise ApiError(422, 'args: expected a list')
        return emit(node_or_404(key), event, args, _timeout(body))

    @admin.post('/trainers/<key>/<command>')
    def trainer_command(key: str, command: str) -> Response:
        if command not in TRAINER_COMMANDS:
            raise ApiError(404, f'unknown command {command}: expected one of {", ".join(TRAINER_COMMANDS)}')
        node = node_or_404(key)
        body = read_json_object()
        timeout = _timeout(body)
        org = request.args.get('organization') or request.args.get('org') or DEMO_ORG
        project = request.args.get('project') or DEMO_PROJECT
        details = {k: v for k, v in body.items() if k != 'timeout'}
        ack = send_trainer_command(ctx, hub, node, command, org, project, details, timeout)
        return jsonify({'ack': ack, 'sid': node.sid, 'uuid': node.uuid})

    @admin.post('/nodes/<key>/disconnect')
    def disconnect(key: str) -> Response:
        node = node_or_404(key)
        hub.disconnect(node.sid)
        return jsonify({'detail': f'disconnected {node.sid}'})

    @admin.get('/received/images')
    def received_images() -> Response:
        org, project = request.args.get('org'), request.args.get('project')
        base = request.host_url.rstrip('/')
        rows = [r for r in store.all_uploaded_images()
                if (not org or r['org'] == org) and (not project or r['project'] == project)]
        return jsonify({'images': [
            {'id': r['id'], 'organization': r['org'], 'project': r['project'], 'name': r['upload_name'],
             'metadata': None if r['metadata'] is None else json.loads(r['metadata']), 'state': r['state'], 'width': r['width'], 'height': r['height'],
             'received_at': r['received_at'],
             'file_url': f'{base}/api/{r["org"]}/projects/{r["project"]}/images/{r["id"]}/main'} for r in rows]})

    @admin.get('/received/detections')
    def received_detections() -> Response:
        return jsonify({'detections': store.received('detections')})

    @admin.get('/received/annotations')
    def received_annotations() -> Response:
        return jsonify({'annotations': store.received('segmentation_annotation')})

    @admin.get('/statuses')
    def statuses() -> Response:
        result: dict[str, list[dict[str, Any]]] = {}
        for name, kind in STATUS_KINDS.items():
            by_key: dict[str, list[dict[str, Any]]] = {}
            for record in store.received(kind):
                by_key.setdefault(record['key'], []).append(record)
            result[name] = [{'uuid': key, 'organization': recs[-1]['organization'], 'project': recs[-1]['project'],
                             'received_at': recs[-1]['received_at'], 'latest': recs[-1]['payload'],
                             'history': [r['payload'] for r in recs]} for key, recs in by_key.items()]
        return jsonify(result)

    @admin.get('/trainings')
    def trainings() -> Response:
        return jsonify({'trainings': store.trainings(), 'updates': store.received('training_update'),
                        'model_uploads': store.received('model_upload')})

    @admin.get('/requests')
    def requests_log() -> Response:
        return jsonify({'requests': ctx.requests.entries(_int_arg('limit', None, 1, 100000))})

    _register_fault_routes(admin, ctx)
    admin_annotator.register(admin, ctx, hub)
    return admin


def _register_fault_routes(admin: Blueprint, ctx: DevLoopContext) -> None:
    for name, book, kind in (('faults', ctx.faults, HttpFault), ('socket_faults', ctx.socket_faults, SocketFault)):
        _fault_routes(admin, name, book, kind)


def _fault_routes(admin: Blueprint, name: str, book: Any, kind: Any) -> None:
    def add() -> Response:
        try:
            rule = kind.from_dict(read_json_object())
        except FaultSpecError as e:
            raise ApiError(422, str(e)) from None
        rule_id = book.add(rule)
        log.info('%s rule %d added: %s', name, rule_id, rule.to_dict())
        return jsonify({'id': rule_id})

    def listing() -> Response:
        return jsonify({name: [r.to_dict() for r in book.rules()]})

    def clear() -> Response:
        book.clear()
        return jsonify({'detail': f'all {name} removed'})

    def remove(rule_id: int) -> Response:
        if not book.remove(rule_id):
            raise ApiError(404, f'no rule {rule_id}')
        return jsonify({'detail': f'rule {rule_id} removed'})
    admin.add_url_rule(f'/{name}', f'add_{name}', add, methods=['POST'])
    admin.add_url_rule(f'/{name}', f'list_{name}', listing, methods=['GET'])
    admin.add_url_rule(f'/{name}', f'clear_{name}', clear, methods=['DELETE'])
    admin.add_url_rule(f'/{name}/<int:rule_id>', f'remove_{name}', remove, methods=['DELETE'])
