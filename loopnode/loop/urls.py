"""Pure rules that turn LOOP_HOST into the Loop's base URL (loop-protocol.md §3.1)."""
from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_LOOP_HOST = 'learning-loop.ai'


def loop_base_url(host: str | None) -> str:
    """`BASE` for a LOOP_HOST value; raises ValueError for a path, query, fragment or an empty host."""
    host = (host or DEFAULT_LOOP_HOST).strip()
    if '://' in host:
        parts = urlsplit(host)
        if parts.scheme not in ('http', 'https'):
            raise ValueError(f'scheme {parts.scheme!r} is not http or https')
    else:
        scheme = 'https' if 'learning-loop.ai' in host else 'http'
        parts = urlsplit(f'{scheme}://{host}')
    if not parts.netloc or not parts.hostname:
        raise ValueError('no host name')
    if parts.path not in ('', '/') or parts.query or parts.fragment:
        raise ValueError('a host[:port] or a URL without path, query or fragment')
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as e:
        raise ValueError(f'bad port: {e}') from None
    return f'{parts.scheme}://{parts.netloc}'


def socketio_url(base_url: str) -> str:
    """ws[s]:// URL of the Loop's Socket.IO endpoint host for a base URL."""
    if base_url.startswith('https://'):
        return 'wss://' + base_url[len('https://'):]
    return 'ws://' + base_url[len('http://'):]
