"""Connections LoopHttp's sessions have in use, so that shutdown can cut them instead of waiting for a timeout.

Every session LoopHttp makes mounts an adapter whose connection pools report each connection taken and
returned. A connection is remembered with the thread whose session took it and what it carries (a download
stream, an upload or a plain call), so `abort_transfers` cuts the downloads and uploads in progress,
`abort_uploads` only the uploads and `abort_session_of` everything one thread's session has open (a probe or
a Socket.IO handshake stuck on a Loop that does not answer). Cutting is `shutdown(SHUT_RDWR)` on the socket:
the blocked read returns at once and the call raises a `requests.ConnectionError`.
"""
from __future__ import annotations

import socket
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

PLAIN = 'plain'
DOWNLOAD = 'download'
UPLOAD = 'upload'


@dataclass(frozen=True)
class _Use:
    owner: int  # ident of the thread whose session took the connection
    kind: str  # PLAIN, DOWNLOAD or UPLOAD (what that thread was doing when it took it)


class InFlight:
    """The connections in use by one LoopHttp's sessions, by owner thread and kind (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._in_use: weakref.WeakKeyDictionary[Any, _Use] = weakref.WeakKeyDictionary()

    def adapter(self) -> HTTPAdapter:
        """An adapter for a session of the calling thread: its connections count as that thread's."""
        owner = threading.get_ident()
        return _TrackingAdapter(lambda connection, taken: self._track(owner, connection, taken))

    @contextmanager
    def carrying(self, kind: str) -> Iterator[None]:
        """Connections this thread takes inside the block carry `kind` (DOWNLOAD or UPLOAD)."""
        before = getattr(self._local, 'kind', PLAIN)
        self._local.kind = kind
        try:
            yield
        finally:
            self._local.kind = before

    def count(self, *kinds: str) -> int:
        """How many connections of `kinds` (all when none given) are in use with an open socket now.

        A connection still connecting has no socket yet: cutting it does nothing, so callers that must end a
        call repeat the abort until the call has ended.
        """
        with self._lock:
            return sum(1 for connection, use in self._in_use.items()
                       if (not kinds or use.kind in kinds) and getattr(connection, 'sock', None) is not None)

    def abort_transfers(self) -> None:
        """Cut every download and upload in progress."""
        self._abort(lambda use: use.kind in (DOWNLOAD, UPLOAD))

    def abort_uploads(self) -> None:
        """Cut every upload in progress."""
        self._abort(lambda use: use.kind == UPLOAD)

    def abort_session_of(self, thread: threading.Thread) -> None:
        """Cut every connection the session of `thread` has in use (other threads may use that session too)."""
        self._abort(lambda use: use.owner == thread.ident)

    def _abort(self, which: Callable[[_Use], bool]) -> None:
        with self._lock:
            connections = [connection for connection, use in self._in_use.items() if which(use)]
        for connection in connections:
            _shutdown(getattr(connection, 'sock', None))

    def _track(self, owner: int, connection: Any, taken: bool) -> None:
        with self._lock:
            if taken:
                self._in_use[connection] = _Use(owner, getattr(self._local, 'kind', PLAIN))
            else:  # a connection closed after an error comes back as None: its entry goes with the object
                self._in_use.pop(connection, None)


def _shutdown(sock: socket.socket | None) -> None:
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _TrackingAdapter(HTTPAdapter):
    """An HTTPAdapter whose pools report each connection taken and returned, so a call can be cut."""

    def __init__(self, track: Callable[[Any, bool], None]) -> None:
        self._track = track
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        track = self._track

        def tracked(base: type) -> type:
            class TrackedPool(base):  # type: ignore[misc, valid-type]
                def _get_conn(self, timeout: float | None = None) -> Any:
                    connection = super()._get_conn(timeout)
                    track(connection, True)
                    return connection

                def _put_conn(self, connection: Any) -> None:
                    if connection is not None:
                        track(connection, False)
                    super()._put_conn(connection)
            return TrackedPool

        self.poolmanager.pool_classes_by_scheme = {'http': tracked(HTTPConnectionPool),
                                                   'https': tracked(HTTPSConnectionPool)}
