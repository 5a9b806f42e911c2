"""What the dashboard shows about nodes (pure): connected Socket.IO nodes with their last status, and the
detectors, which only post their status over REST. Inputs are `SocketHub.nodes()` and `Store.received()` rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

STATUS_KIND = {'trainer': 'trainer_status', 'annotator': 'annotator_status'}


@dataclass(frozen=True)
class NodeView:
    """One node card: identity, connection, the last status (`status_at`, its age in s) and a few facts."""
    node_type: str
    name: str
    uuid: str | None
    sid: str | None
    organization: str
    project: str
    connected: bool | None  # None: a detector, which has no Socket.IO connection to the Loop
    connected_since: str | None
    status_at: str | None
    status_age: float | None
    state: str | None = None
    progress: float | None = None
    errors: dict[str, str] = field(default_factory=dict)
    facts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_trainer(self) -> bool:
        return self.node_type == 'trainer' and self.connected is True


def age_seconds(stamp: Any, now: datetime) -> float | None:
    """Seconds from an ISO timestamp (with zone) to `now`; None when it does not parse."""
    if not isinstance(stamp, str):
        return None
    try:
        return max(0.0, (now - datetime.fromisoformat(stamp)).total_seconds())
    except (ValueError, TypeError):
        return None


def latest_by_key(records: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The newest received record per key (records come oldest first)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for record in records:
        latest[str(record.get('key'))] = record
    return latest


def _errors(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return '–' if value is None or value == '' else str(value)


def socket_node_view(node: Mapping[str, Any], received: Mapping[str, Any] | None, now: datetime) -> NodeView:
    """A connected trainer/annotator/converter; `received` is its newest stored status record, if any."""
    status = node.get('last_status') if isinstance(node.get('last_status'), Mapping) else {}
    status_at = received.get('received_at') if received else None
    node_type = str(node.get('node_type') or '?')
    facts: list[tuple[str, str]] = []
    progress = status.get('progress')
    if node_type == 'trainer':
        context = status.get('context') if isinstance(status.get('context'), Mapping) else {}
        facts += [('architecture', _text(status.get('architecture'))),
                  ('training of', _text(f"{context.get('organization')}/{context.get('project')}"
                                        if context else None)),
                  ('uptime', _text(status.get('uptime')))]
    elif node_type == 'annotator':
        capabilities = status.get('capabilities')
        facts += [('capabilities', ', '.join(map(str, capabilities)) if isinstance(capabilities, list) and capabilities
                   else '–'), ('uptime', _text(status.get('uptime')))]
    facts.append(('last event', _text(node.get('last_event'))))
    return NodeView(node_type=node_type, name=str(node.get('name') or status.get('name') or node.get('sid')),
                    uuid=node.get('uuid'), sid=node.get('sid'), organization=str(node.get('organization') or ''),
                    project=str(node.get('project') or ''), connected=True,
                    connected_since=node.get('connected_since'), status_at=status_at,
                    status_age=age_seconds(status_at, now), state=status.get('state'),
                    progress=progress if isinstance(progress, (int, float)) and not isinstance(progress, bool)
                    else None, errors=_errors(status.get('errors')), facts=facts)


def detector_view(record: Mapping[str, Any], uploads: int, now: datetime) -> NodeView:
    """A detector from its newest `POST P/detectors` record; `uploads` = images its project got from nodes."""
    status = record.get('payload') if isinstance(record.get('payload'), Mapping) else {}
    facts = [('model', _text(status.get('current_model'))), ('target', _text(status.get('target_model'))),
             ('format', _text(status.get('model_format'))), ('mode', _text(status.get('operation_mode'))),
             ('uptime', _text(status.get('uptime'))), ('images received', str(uploads))]
    return NodeView(node_type='detector', name=str(status.get('name') or record.get('key')),
                    uuid=str(record.get('key')), sid=None, organization=str(record.get('organization') or ''),
                    project=str(record.get('project') or ''), connected=None, connected_since=None,
                    status_at=record.get('received_at'), status_age=age_seconds(record.get('received_at'), now),
                    state=status.get('state'), errors=_errors(status.get('errors')), facts=facts)


def node_views(sockets: list[Mapping[str, Any]], statuses: Mapping[str, Mapping[str, Mapping[str, Any]]],
               detectors: Mapping[str, Mapping[str, Any]], uploads: Mapping[tuple[str, str], int],
               now: datetime) -> list[NodeView]:
    """All node cards: Socket.IO nodes (by type, then name) followed by the detectors (newest status first).

    `statuses` maps a status kind to {key: newest record}; `uploads` counts received images per (org, project).
    """
    views = []
    for node in sockets:
        kind = STATUS_KIND.get(str(node.get('node_type')))
        key = node.get('uuid') or node.get('sid')
        received = statuses.get(kind, {}).get(str(key)) if kind else None
        views.append(socket_node_view(node, received, now))
    views.sort(key=lambda v: (v.node_type, v.name))
    detector_cards = [detector_view(r, uploads.get((str(r.get('organization')), str(r.get('project'))), 0), now)
                      for r in detectors.values()]
    detector_cards.sort(key=lambda v: v.status_at or '', reverse=True)
    return views + detector_cards
