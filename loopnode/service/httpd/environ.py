"""The WSGI environ of a parsed request (PEP 3333), with the node's header rules; pure."""
from __future__ import annotations

import sys
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from .parse import RequestHead

SERVER_SOFTWARE = 'loopnode'


def _latin1(text: str) -> str:
    """PEP 3333 "bytes as latin-1" for a decoded UTF-8 string (werkzeug does the same)."""
    return text.encode('utf-8', 'surrogateescape').decode('latin-1')


def request_path(target: str) -> str:
    """The decoded path of a request target (what Flask's `request.path` shows)."""
    url = urlsplit(target)
    if not url.scheme and url.netloc:  # '//a/b' is a path, not an authority
        return unquote(f'/{url.netloc}{url.path}')
    return unquote(url.path)


def build_environ(head: RequestHead, body: IO[bytes], length: int, *, sock: Any, client: tuple[str, int],
                  server: tuple[str, int]) -> dict[str, Any]:
    """The environ of `head`; `body` is the request's stream and `length` its size.

    Header names with `_` are kept (werkzeug drops them, but `camera_id` and `creation_date` are part of the
    detector API, detector.md §2.6) and win over the hyphen spelling (detector.md §2.2 precedence). Repeated
    headers are joined with commas. `werkzeug.socket` is the raw socket for the WebSocket driver (fastws).
    """
    url = urlsplit(head.target)
    environ: dict[str, Any] = {
        'wsgi.version': (1, 0),
        'wsgi.url_scheme': 'http',
        'wsgi.input': body,
        'wsgi.errors': sys.stderr,
        'wsgi.multithread': True,
        'wsgi.multiprocess': False,
        'wsgi.run_once': False,
        'werkzeug.socket': sock,
        'SERVER_SOFTWARE': SERVER_SOFTWARE,
        'REQUEST_METHOD': head.method,
        'SCRIPT_NAME': '',
        'PATH_INFO': _latin1(request_path(head.target)),
        'QUERY_STRING': url.query,
        'REQUEST_URI': head.target,
        'RAW_URI': head.target,
        'REMOTE_ADDR': client[0],
        'REMOTE_PORT': client[1],
        'SERVER_NAME': server[0],
        'SERVER_PORT': str(server[1]),
        'SERVER_PROTOCOL': head.version,
    }
    underscored = []
    for name, value in head.headers:
        if '_' in name:
            underscored.append((name, value))
            continue
        key = name.upper().replace('-', '_')
        if key in ('TRANSFER_ENCODING', 'CONTENT_LENGTH'):
            continue  # the body's framing is the server's business: the app sees CONTENT_LENGTH below
        if key != 'CONTENT_TYPE':
            key = 'HTTP_' + key
        environ[key] = f'{environ[key]},{value}' if key in environ else value
    for name, value in underscored:
        key = 'HTTP_' + name.upper().replace('-', '_')
        if key not in ('HTTP_TRANSFER_ENCODING', 'HTTP_CONTENT_LENGTH'):  # werkzeug would read them as framing
            environ[key] = value
    if length or head.body != 'none':
        environ['CONTENT_LENGTH'] = str(length)
    if url.scheme and url.netloc:
        environ['HTTP_HOST'] = url.netloc
    return environ
