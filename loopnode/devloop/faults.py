"""Fault injection (loop-protocol.md §11.6): rule books, path matching, the request log and a WSGI middleware.

Matching is pure: `path_matches('/api/*/projects/*/images', path)` compares segment by segment (`*` is one
segment, `**` any number). `RuleBook` fires the first matching rule in insertion order and counts `times`.
`FaultMiddleware` wraps the whole WSGI app: it records every request and applies HTTP rules (never to
`/admin`, so tests can always remove a rule again).
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import random
import socket
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from http import HTTPStatus
from typing import Any, Callable, Generic, Iterable, TypeVar

from ..isotime import now_iso
from .throttle import throttled

log = logging.getLogger(__name__)

ADMIN_PREFIX = '/admin'
PAGES_PREFIX = '/ui'  # devloop's web pages (and `/`): like /admin, never faulted or logged
AUTH_COOKIE = 'devloop_auth'


def path_matches(pattern: str, path: str) -> bool:
    """True if `path` matches `pattern` segment-wise: `*`/`?`/`[..]` within a segment, `**` any segments."""
    return _match_segments(pattern.strip('/').split('/'), path.strip('/').split('/'))


def _match_segments(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == '**':
        return any(_match_segments(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], pattern[0]) and _match_segments(pattern[1:], parts[1:])


class FaultSpecError(ValueError):
    """A fault rule body that is not valid; the message names the field."""


def _opt(body: dict[str, Any], key: str, kinds: tuple[type, ...], default: Any = None) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) and bool not in kinds:
        raise FaultSpecError(f'{key}: expected {"/".join(k.__name__ for k in kinds)}')
    if not isinstance(value, kinds):
        raise FaultSpecError(f'{key}: expected {"/".join(k.__name__ for k in kinds)}')
    return value


@dataclass
class HttpFault:
    """One HTTP rule: match method + path glob; answer `status`, delay, drop the connection or send slowly."""
    method: str = '*'
    path: str = '**'
    status: int | None = None
    retry_after: float | None = None
    body: Any = None
    body_text: str | None = None
    body_base64: str | None = None
    content_type: str | None = None
    bytes_per_second: float | None = None
    latency_ms: float = 0
    drop_connection: bool = False
    times: int | None = None
    probability: float = 1.0
    id: int = 0
    fired: int = 0

    @classmethod
    def from_dict(cls, body: Any) -> 'HttpFault':
        if not isinstance(body, dict):
            raise FaultSpecError('a fault rule must be a JSON object')
        match = _opt(body, 'match', (dict,), {})
        rule = cls(method=str(_opt(match, 'method', (str,), '*')).upper(), path=_opt(match, 'path', (str,), '**'),
                   status=_opt(body, 'status', (int,)), retry_after=_opt(body, 'retry_after', (int, float)),
                   body=body.get('body'), latency_ms=_opt(body, 'latency_ms', (int, float), 0),
                   drop_connection=_opt(body, 'drop_connection', (bool,), False), times=_opt(body, 'times', (int,)),
                   probability=float(_opt(body, 'probability', (int, float), 1.0)),
                   body_text=_opt(body, 'body_text', (str,)), body_base64=_opt(body, 'body_base64', (str,)),
                   content_type=_opt(body, 'content_type', (str,)),
                   bytes_per_second=_opt(body, 'bytes_per_second', (int, float)))
        rule._check_body_options()
        if rule.status is not None and not 100 <= rule.status <= 599:
            raise FaultSpecError('status: expected an HTTP status code')
        if rule.times is not None and rule.times < 1:
            raise FaultSpecError('times: expected >= 1')
        if not 0 <= rule.probability <= 1 or rule.latency_ms < 0:
            raise FaultSpecError('probability must be in [0, 1] and latency_ms >= 0')
        if rule.bytes_per_second is not None and rule.bytes_per_second <= 0:
            raise FaultSpecError('bytes_per_second: expected a number > 0')
        if rule.status is None and not rule.drop_connection and not rule.latency_ms and not rule.bytes_per_second:
            raise FaultSpecError('a rule needs status, latency_ms, bytes_per_second or drop_connection')
        return rule

    def _check_body_options(self) -> None:
        given = [k for k in ('body', 'body_text', 'body_base64') if getattr(self, k) is not None]
        if len(given) > 1:
            raise FaultSpecError(f'give at most one of body, body_text, body_base64 (got {", ".join(given)})')
        if (given or self.content_type is not None) and self.status is None:
            raise FaultSpecError(f'{(given or ["content_type"])[0]} needs a status')
        if self.body_base64 is not None:
            try:
                base64.b64decode(self.body_base64, validate=True)
            except (binascii.Error, ValueError) as e:
                raise FaultSpecError(f'body_base64: not valid base64: {e}') from None

    def payload(self) -> tuple[bytes, str]:
        """(bytes, content type) of the injected answer: `body` as JSON, `body_text`/`body_base64` verbatim."""
        if self.body_text is not None:
            return self.body_text.encode(), self.content_type or 'text/plain; charset=utf-8'
        if self.body_base64 is not None:
            return base64.b64decode(self.body_base64), self.content_type or 'application/octet-stream'
        body = self.body if self.body is not None else {'detail': f'injected fault {self.id}: HTTP {self.status}'}
        return json.dumps(body).encode(), self.content_type or 'application/json'

    def matches(self, method: str, path: str) -> bool:
        return fnmatchcase(method.upper(), self.method) and path_matches(self.path, path)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data['match'] = {'method': data.pop('method'), 'path': data.pop('path')}
        data['remaining'] = None if self.times is None else self.times - self.fired
        return data


@dataclass
class SocketFault:
    """One Socket.IO rule: refuse CONNECT, or answer an event with another ack, late, or by disconnecting."""
    event: str | None = None
    refuse_connect: bool = False
    ack: Any = None
    delay_ms: float = 0
    disconnect: bool = False
    times: int | None = None
    id: int = 0
    fired: int = 0

    @classmethod
    def from_dict(cls, body: Any) -> 'SocketFault':
        if not isinstance(body, dict):
            raise FaultSpecError('a socket fault must be a JSON object')
        rule = cls(event=_opt(body, 'event', (str,)), refuse_connect=_opt(body, 'refuse_connect', (bool,), False),
                   ack=body.get('ack'), delay_ms=_opt(body, 'delay_ms', (int, float), 0),
                   disconnect=_opt(body, 'disconnect', (bool,), False), times=_opt(body, 'times', (int,)))
        if rule.refuse_connect == (rule.event is not None):
            raise FaultSpecError('give either "event" or "refuse_connect": true')
        if rule.times is not None and rule.times < 1:
            raise FaultSpecError('times: expected >= 1')
        if rule.delay_ms < 0:
            raise FaultSpecError('delay_ms: expected >= 0')
        return rule

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {'remaining': None if self.times is None else self.times - self.fired}


R = TypeVar('R', HttpFault, SocketFault)


class RuleBook(Generic[R]):
    """Thread-safe ordered rules; `fire(pred)` returns the first live matching rule and counts it."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rules: list[R] = []
        self._next_id = 1
        self._lock = threading.Lock()
        self._rng = rng or random.Random()

    def add(self, rule: R) -> int:
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
            return rule.id

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) < before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[R]:
        with self._lock:
            return list(self._rules)

    def fire(self, predicate: Callable[[R], bool]) -> R | None:
        with self._lock:
            for rule in self._rules:
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if not predicate(rule):
                    continue
                if getattr(rule, 'probability', 1.0) < 1.0 and self._rng.random() >= rule.probability:
                    return None
                rule.fired += 1
                return rule
            return None


class RequestLog:
    """Bounded log of requests and fired faults for `/admin/requests`."""

    def __init__(self, size: int = 2000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, method: str, path: str, *, cookie: bool, status: int | None = None,
            fault: int | str | None = None) -> dict[str, Any]:
        entry = {'time': now_iso('milliseconds'), 'method': method,
                 'path': path, 'status': status, 'cookie': cookie, 'fault': fault}
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            items = [dict(e) for e in self._entries]
        return items[-limit:] if limit else items

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class FaultMiddleware:
    """WSGI wrapper: logs every non-admin request and applies the first matching HTTP fault rule."""

    def __init__(self, app: Callable[..., Iterable[bytes]], faults: RuleBook[HttpFault], requests: RequestLog,
                 stop: threading.Event) -> None:
        self.app = app
        self.faults = faults
        self.requests = requests
        self.stop = stop

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ.get('REQUEST_METHOD', 'GET'), environ.get('PATH_INFO', '/')
        if path in ('/', ADMIN_PREFIX, PAGES_PREFIX) or path.startswith((ADMIN_PREFIX + '/', PAGES_PREFIX + '/')):
            return self.app(environ, start_response)
        entry = self.requests.add(method, path, cookie=f'{AUTH_COOKIE}=' in environ.get('HTTP_COOKIE', ''))
        rule = self.faults.fire(lambda r: r.matches(method, path))
        if rule is not None:
            entry['fault'] = rule.id
            log.info('fault %d fires on %s %s', rule.id, method, path)
            if rule.latency_ms:
                self.stop.wait(rule.latency_ms / 1000)
            if rule.drop_connection:
                entry['status'] = 'dropped'
                sock = environ.get('werkzeug.socket')
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                raise ConnectionAbortedError('devloop fault: connection dropped')  # werkzeug: connection_dropped
            if rule.status is not None:
                entry['status'] = rule.status
                answer = self._answer(rule, start_response)
                return throttled(answer, rule.bytes_per_second, self.stop) if rule.bytes_per_second else answer

        def recording_start_response(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            entry['status'] = int(status.split(' ', 1)[0])
            return start_response(status, headers, *args)
        started = time.monotonic()
        result = self.app(environ, recording_start_response)
        entry['ms'] = round((time.monotonic() - started) * 1000, 1)
        if rule is not None and rule.bytes_per_second:
            return throttled(result, rule.bytes_per_second, self.stop)
        return result

    @staticmethod
    def _answer(rule: HttpFault, start_response: Callable[..., Any]) -> list[bytes]:
        payload, content_type = rule.payload()
        headers = [('Content-Type', content_type), ('Content-Length', str(len(payload)))]
        if rule.retry_after is not None:
            retry = rule.retry_after
            headers.append(('Retry-After', str(int(retry)) if float(retry).is_integer() else str(retry)))
        try:
            reason = HTTPStatus(rule.status).phrase
        except ValueError:
            reason = 'Fault'
        start_response(f'{rule.status} {reason}', headers)
        return [payload]
