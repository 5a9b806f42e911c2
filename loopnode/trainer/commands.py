"""Pure checks and acks of the Loop's trainer commands (trainer.md §5, loop-protocol.md §6.3, §7.12)."""
from __future__ import annotations

from typing import Any

from ..data import DataError, SocketResponse, TrainingDetails


def ack(success: bool, error_msg: str | None = None, payload: Any = None) -> SocketResponse:
    """The SocketResponse a handler returns (sent as the ack)."""
    return SocketResponse(success=success, error_msg=error_msg, payload=payload)


def refused(message: str) -> SocketResponse:
    return ack(False, message, 'refused')


def folder_name_problem(kind: str, value: Any) -> str | None:
    """Why an organization or project id cannot name a folder, or None."""
    if not isinstance(value, str) or not value:
        return f'{kind}: expected a non-empty string'
    if value in ('.', '..') or '/' in value or '\\' in value or '\x00' in value:
        return f'{kind}: {value!r} is not a valid id'
    return None


def parse_begin_training(organization: Any, project: Any, details: Any) -> TrainingDetails:
    """Validate `begin_training`'s arguments; raises ValueError with what is wrong (nothing is touched)."""
    for kind, value in (('organization', organization), ('project', project)):
        problem = folder_name_problem(kind, value)
        if problem:
            raise ValueError(problem)
    if not isinstance(details, dict):
        raise ValueError('details: expected an object')
    try:
        return TrainingDetails.from_dict(details, path='details')
    except DataError as e:
        raise ValueError(str(e)) from None
