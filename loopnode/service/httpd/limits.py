"""The limits of the node's HTTP server, with the defaults docs/http.md documents."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...settings import Settings

MIB = 1024 * 1024


@dataclass(frozen=True)
class HttpLimits:
    """Every bound the server enforces; one instance per server."""

    max_connections: int = 256         # open connections; the next one is answered 503 and closed
    keepalive_timeout: float = 5.0     # idle time allowed between requests on a kept connection
    header_timeout: float = 10.0       # whole request head, from its first byte (slowloris)
    body_timeout: float = 30.0         # longest pause while a body arrives or an answer is sent
    max_request_line: int = 8192       # bytes; longer: 414
    max_headers: int = 100             # header fields; more: 431
    max_header_bytes: int = 16384      # all header lines together; more: 431
    backlog: int = 1024                # listen queue
    max_body: int = 64 * MIB           # request body; larger: 413 from the header, nothing read
    spool_memory: int = 1 * MIB        # a chunked body beyond this goes to a temporary file
    spool_dir: Path | None = None      # where those files go (None: the system's temp folder)
    spool_budget: int = 256 * MIB      # all chunked bodies in transfer together; past it: 503 + Retry-After
    thread_idle: float = 0.25          # a connection thread without a connection waits this long for the next
    linger: float = 2.0                # after an error answer: how long unread input is discarded before close
    drain_max: int = 64 * 1024         # unread body the server discards to keep a connection alive
    join_timeout: float = 2.0          # at shutdown, after closing every connection: how long to join threads

    @classmethod
    def from_settings(cls, settings: 'Settings', *, max_body: int, spool_dir: Path | None) -> 'HttpLimits':
        """The limits of loopnode's `HTTP_*` settings, with the app's body limit and spool folder."""
        return cls(max_connections=settings.http_max_connections,
                   keepalive_timeout=settings.http_keepalive_timeout,
                   header_timeout=settings.http_header_timeout,
                   body_timeout=settings.http_body_timeout,
                   max_request_line=settings.http_max_request_line,
                   max_headers=settings.http_max_headers,
                   max_header_bytes=settings.http_max_header_bytes,
                   backlog=settings.http_backlog,
                   spool_budget=settings.http_spool_budget_mb * MIB,
                   max_body=max_body,
                   spool_dir=spool_dir)
