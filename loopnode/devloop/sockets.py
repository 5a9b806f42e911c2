"""devloop's Socket.IO side (loop-protocol.md §6, §11.3): node registry, status acks, emits for the admin API.

Nodes connect at /ws/socket.io with headers `organization`, `project`, `nodeType` (and the login cookie in
login/strict mode). Their status events are stored and acked with a SocketResponse; socket fault rules can
refuse the CONNECT, change or delay an ack, or drop the connection.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from flask import request
from flask_socketio import SocketIO

from loopnode.data import (AnnotationNodeStatus, DataError, SegmentationAnnotation, TrainingOut,
                           TrainingStatus)

from .context import DevLoopContext
from .faults import AUTH_COOKIE, SocketFault
from .store import STATUS_HISTORY, now_iso

log = logging.getLogger(__name__)

OK_ACK = {'success': True, 'error_msg': None, 'payload': None}


def error_ack(message: str) -> dict[str, Any]:
    return {'success': False, 'error_msg': message, 'payload': None}


class NodeGoneError(Exception):
    """The node disconnected (or devloop stopped) before it acked."""


@dataclass
class NodeInfo:
    """A connected Socket.IO node as `/admin/nodes` shows it."""
    sid: str
    node_type: str
    organization: str
    project: str
    headers: dict[str, str]
    user: str | None
    connected_since: str
    uuid: str | None = None
    name: str | None = None
    last_status: Any = None
    last_event: str | None = None
    events: int = 0
    connected: bool = field(default=True, repr=False)


# event → (record kind, how many arguments, parser of the record argument, index of that argument)
_EVENTS: dict[str, tuple[str, int, Callable[..., Any], int]] = {
    'update_trainer': ('trainer_status', 1, TrainingStatus.from_dict, 0),
    'update_annotation_node': ('annotator_status', 1, AnnotationNodeStatus.from_dict, 0),
    'update_training': ('training_update', 3, TrainingOut.from_dict, 2),
    'update_segmentation_annotation': ('segmentation_annotation', 3, SegmentationAnnotation.from_dict, 2),
}


class SocketHub:
    """Registers the Socket.IO handlers and lets the admin API emit to nodes and wait for their acks."""

    def __init__(self, ctx: DevLoopContext, socketio: SocketIO) -> None:
        self.ctx = ctx
        self.socketio = socketio
        self._nodes: dict[str, NodeInfo] = {}
        self._lock = threading.Lock()
        self._emit_lock = threading.Lock()  # python-socketio's emit is not thread-safe per client
        self._register()

    # ---- registry --------------------------------------------------------------------------------------

    def nodes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._public(n) for n in self._nodes.values()]

    @staticmethod
    def _public(node: NodeInfo) -> dict[str, Any]:
        data = asdict(node)
        data.pop('connected', None)
        return data

    def find(self, key: str) -> NodeInfo | None:
        """The node with this sid, else the most recently connected node with this uuid."""
        with self._lock:
            if key in self._nodes:
                return self._nodes[key]
            matches = [n for n in self._nodes.values() if n.uuid == key]
            return matches[-1] if matches else None

    def is_connected(self, sid: str) -> bool:
        with self._lock:
            return sid in self._nodes

    # ---- admin actions -----------------------------------------------------------------------------------

    def call(self, sid: str, event: str, args: list[Any], timeout: float) -> Any:
        """Emit `event(*args)` to `sid` and return its ack (None for an empty one).

        Raises TimeoutError after `timeout` s, NodeGoneError when the node disconnects or devloop stops first.
        """
        done = threading.Event()
        result: list[Any] = []

        def on_ack(*ack: Any) -> None:
            result.append(ack[0] if len(ack) == 1 else list(ack) if ack else None)
            done.set()
        with self._emit_lock:
            self.socketio.server.emit(event, data=tuple(args), to=sid, namespace='/', callback=on_ack)
        log.info('emitted %s to %s', event, sid)
        deadline = time.monotonic() + timeout
        while not done.wait(0.05):
            if self.ctx.stop.is_set() or not self.is_connected(sid):
                raise NodeGoneError(f'node {sid} disconnected before acking {event}')
            if time.monotonic() > deadline:
                raise TimeoutError(f'no ack for {event} within {timeout} s')
        return result[0]

    def disconnect(self, sid: str) -> None:
        self.socketio.server.disconnect(sid, namespace='/')

    def disconnect_all(self) -> None:
        with self._lock:
            sids = list(self._nodes)
        for sid in sids:
            try:
                self.disconnect(sid)
            except Exception:  # noqa: BLE001 - best effort on shutdown
                log.debug('disconnect of %s failed', sid, exc_info=True)

    # ---- handlers ----------------------------------------------------------------------------------------

    def _register(self) -> None:
        self.socketio.on_event('connect', self._on_connect)
        self.socketio.on_event('disconnect', self._on_disconnect)
        for event in _EVENTS:
            self.socketio.on_event(event, self._event_handler(event))

    def _log_fault(self, rule: SocketFault, what: str) -> None:
        log.info('socket fault %d fires on %s', rule.id, what)
        self.ctx.requests.add('SIO', what, cookie=False, status='fault', fault=f'socket:{rule.id}')

    def _on_connect(self, auth: Any = None) -> bool:
        sid = request.sid  # type: ignore[attr-defined]
        headers = {k: request.headers.get(k, '') for k in ('organization', 'project', 'nodeType')}
        user = self.ctx.store.session_user(request.cookies.get(AUTH_COOKIE))
        rule = self.ctx.socket_faults.fire(lambda r: r.refuse_connect)
        if rule is not None:
            self._log_fault(rule, 'connect')
            return False
        if self.ctx.auth.cookie_required and user is None:
            log.info('refused Socket.IO connect without a valid login cookie (%s)', headers['nodeType'])
            self.ctx.requests.add('SIO', 'connect', cookie=False, status=401)
            return False
        node = NodeInfo(sid=sid, node_type=headers['nodeType'], organization=headers['organization'],
                        project=headers['project'], headers=headers, user=user, connected_since=now_iso())
        with self._lock:
            self._nodes[sid] = node
        self.ctx.requests.add('SIO', 'connect', cookie=user is not None, status=200)
        log.info('node connected: sid=%s type=%s %s/%s', sid, node.node_type, node.organization, node.project)
        return True

    def _on_disconnect(self, *args: Any) -> None:
        sid = request.sid  # type: ignore[attr-defined]
        with self._lock:
            node = self._nodes.pop(sid, None)
        if node is not None:
            node.connected = False
            log.info('node disconnected: sid=%s uuid=%s', sid, node.uuid)

    def _event_handler(self, event: str) -> Callable[..., Any]:
        def handler(*args: Any) -> Any:
            return self._on_event(event, request.sid, list(args))  # type: ignore[attr-defined]
        handler.__name__ = f'on_{event}'
        return handler

    def _on_event(self, event: str, sid: str, args: list[Any]) -> Any:
        kind, arg_count, parse, index = _EVENTS[event]
        with self._lock:
            node = self._nodes.get(sid)
        ack: Any = OK_ACK
        if len(args) != arg_count or not isinstance(args[index], dict):
            ack = error_ack(f'{event} expects {arg_count} argument(s), the record being an object')
        else:
            record = args[index]
            problem = None
            try:
                parse(record)
            except DataError as e:
                problem = str(e)
                log.warning('%s from %s does not parse: %s', event, sid, problem)
            self._store_event(event, kind, node, args, record, problem)
        self.ctx.requests.add('SIO', event, cookie=bool(node and node.user), status=200)
        rule = self.ctx.socket_faults.fire(lambda r: r.event == event)
        if rule is None:
            return ack
        self._log_fault(rule, event)
        if rule.delay_ms:
            self.ctx.stop.wait(rule.delay_ms / 1000)
        if rule.disconnect:
            self.disconnect(sid)
            return None
        return rule.ack if rule.ack is not None else ack

    def _store_event(self, event: str, kind: str, node: NodeInfo | None, args: list[Any], record: dict[str, Any],
                     problem: str | None) -> None:
        entry = {'sid': node.sid if node else None, 'event': event, 'payload': record, 'problem': problem}
        if kind in ('trainer_status', 'annotator_status'):
            key = str(record.get('id') or (node.sid if node else ''))
            org, project = (node.organization, node.project) if node else ('', '')
            self.ctx.store.add_received(kind, [(key, entry)], org, project, keep=STATUS_HISTORY)
            if node is not None:
                with self._lock:
                    node.uuid = record.get('id') if isinstance(record.get('id'), str) else node.uuid
                    node.name = record.get('name') if isinstance(record.get('name'), str) else node.name
                    node.last_status = record
        else:
            org, project = (a if isinstance(a, str) else '' for a in args[:2])
            key = str(record.get('trainer_id') or record.get('image_id') or '')
            self.ctx.store.add_received(kind, [(key, entry)], org, project)
        if node is not None:
            with self._lock:
                node.events += 1
                node.last_event = event
