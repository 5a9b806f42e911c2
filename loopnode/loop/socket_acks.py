"""The ack convention of Loop → node events (loop-protocol.md §6.3), pure: handler outcome → ack arguments."""
from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

from ..data import SocketResponse
from ..errors import NodeNeedsRestartError

log = logging.getLogger(__name__)

INVALID_RETURN = 'invalid handler return type'
# handler errors logged as one line: bad input, lookups, I/O; anything else gets its traceback
EXPECTED_ERRORS = (ValueError, LookupError, OSError)


def failure(message: str) -> dict[str, Any]:
    """`{"success": false, "error_msg": message, "payload": null}`."""
    return {'success': False, 'error_msg': message, 'payload': None}


def ack_for_result(result: Any) -> list[Any]:
    """The ack arguments for what a handler returned: [] for None (an empty ack), else one SocketResponse dict."""
    if result is None:
        return []
    if isinstance(result, bool):  # before str/int: bool is its own case
        return [{'success': result, 'error_msg': None, 'payload': None}]
    if isinstance(result, str):
        return [{'success': True, 'error_msg': None, 'payload': result}]
    if isinstance(result, SocketResponse):
        return [result.to_dict()]
    return [failure(INVALID_RETURN)]


def ack_for_error(error: BaseException) -> list[Any]:
    """The ack for a handler that raised: its message (the exception type when the message is empty)."""
    return [failure(str(error) or type(error).__name__)]


def arguments_problem(handler: Callable[..., Any], args: tuple[Any, ...]) -> str | None:
    """Why `handler(*args)` cannot be called (wrong argument count), or None; unknown signatures pass."""
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*args)
    except TypeError as e:
        return f'wrong arguments: {e}'
    return None


def run_handler(event: str, handler: Callable[..., Any], args: tuple[Any, ...]) -> list[Any]:
    """Call `handler(*args)` and turn its outcome into ack arguments (§6.3); raises only NodeNeedsRestartError."""
    problem = arguments_problem(handler, args)
    if problem is not None:
        log.warning('%s: %s', event, problem)
        return [failure(problem)]
    try:
        return ack_for_result(handler(*args))
    except NodeNeedsRestartError:
        raise
    except Exception as e:  # noqa: BLE001 - every handler error becomes a failure ack
        log.warning('%s handler failed: %s', event, e, exc_info=not isinstance(e, EXPECTED_ERRORS))
        return ack_for_error(e)


def ack_ok(ack: Any) -> bool:
    """Whether an ack the Loop sent for one of our events is a dict with a truthy `success` (§6.4)."""
    return isinstance(ack, dict) and bool(ack.get('success'))
