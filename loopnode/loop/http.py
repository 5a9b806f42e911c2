"""LoopHttp: the node's HTTP client for the Learning Loop (loop-protocol.md §4).

One object per node owns the base URL, CA bundle, credentials and cookie jar. `requests` sessions are not
thread-safe, so each thread gets its own session; a (re)login replaces the jar atomically and every thread
picks the new cookies up before its next call. Every call has a timeout; 401 triggers one relogin, 429 is
retried with `Retry-After` or jittered exponential backoff, and every wait ends early on the stop event.
"""
from __future__ import annotations

import logging
import mimetypes
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Sequence, Union

import requests
from requests.cookies import RequestsCookieJar

from ..backoff import exponential_delay, full_jitter, parse_retry_after
from ..errors import LoopLoginError
from ..isotime import now_iso
from ..logs import RateLimitedLog
from ..settings import Settings
from .inflight import DOWNLOAD, UPLOAD, InFlight

log = logging.getLogger(__name__)

Timeout = tuple[float, float]
DEFAULT_TIMEOUT: Timeout = (10.0, 60.0)
STATUS_TIMEOUT: Timeout = (5.0, 5.0)
MODEL_TRANSFER_TIMEOUT: Timeout = (10.0, 600.0)
MAX_429_TRIES = 20
CHUNK_SIZE = 1024 * 1024  # written to disk per chunk
READ_SIZE = 64 * 1024  # read from the socket per call, so a stop is noticed within one small read on slow links
PROGRESS_LOG_BYTES = 10 * 1024 * 1024

# a part of a multipart upload: a path, or (file name, bytes or file object, optional content type)
UploadPart = Union[Path, str, tuple[str, Union[bytes, BinaryIO]], tuple[str, Union[bytes, BinaryIO], str]]


@dataclass
class LoopHealth:
    """What the node last saw of the Loop, for `GET /status` (`loop` key)."""

    last_ok: str | None = None
    last_error: str | None = None


def content_type_for(filename: str) -> str:
    """Content type of a multipart part by extension (loop-protocol.md §4.6)."""
    if filename.endswith('.json'):
        return 'application/json'
    if filename.endswith(('.jpg', '.jpeg')):
        return 'image/jpeg'
    return mimetypes.guess_type(filename)[0] or 'application/octet-stream'


class LoopHttp:
    """Thread-safe client for the Loop's REST API with login, 401/429 handling and timeouts."""

    def __init__(self, settings: Settings, stop: threading.Event | None = None,
                 on_status: Any = None) -> None:
        self.settings = settings
        self.base_url = settings.loop_base_url
        self.stop = stop or threading.Event()
        self._on_status = on_status  # callable(status: str), e.g. a metrics counter
        self._verify: bool | str = settings.loop_ssl_cert_path or True
        self._jar_lock = threading.Lock()
        self._login_lock = threading.Lock()
        self._jar = RequestsCookieJar()
        self._jar_generation = 0
        self._logged_in = False
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._rate_log = RateLimitedLog(log)
        self.in_flight = InFlight()  # connections in use, so that shutdown can cut them (inflight.py)
        self._success_listeners: list[Any] = []
        self.health = LoopHealth()

    def add_success_listener(self, listener: Any) -> None:
        """Call `listener()` after every 2xx answer (e.g. the outbox resumes uploading when the Loop is back)."""
        self._success_listeners.append(listener)

    # ---- URLs ---------------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """Absolute URL of an API path (`/status` → `BASE/api/status`); absolute URLs pass through."""
        if path.startswith(('http://', 'https://')):
            return path
        return f'{self.base_url}/api{path if path.startswith("/") else "/" + path}'

    def project_path(self, suffix: str = '') -> str:
        """`/{org}/projects/{project}` + suffix, for the configured organization and project."""
        return f'/{self.settings.loop_organization}/projects/{self.settings.loop_project}{suffix}'

    # ---- sessions and cookies -------------------------------------------------------------------------

    def session(self) -> requests.Session:
        """This thread's requests session, carrying the current cookie jar and CA setting."""
        session: requests.Session | None = getattr(self._local, 'session', None)
        if session is None:
            session = self._new_session()
            self._local.session = session
            self._local.generation = -1
            with self._jar_lock:
                self._sessions.append(session)
        with self._jar_lock:
            if self._local.generation != self._jar_generation:
                session.cookies = self._copy_jar()
                self._local.generation = self._jar_generation
        return session

    def _new_session(self) -> requests.Session:
        """A session of the calling thread whose connections `in_flight` can cut."""
        session = requests.Session()
        session.verify = self._verify
        adapter = self.in_flight.adapter()
        session.mount('http://', adapter)
        session.mount('https://', adapter)
        return session

    def _copy_jar(self) -> RequestsCookieJar:
        jar = RequestsCookieJar()
        jar.update(self._jar)
        return jar

    def _replace_jar(self, jar: RequestsCookieJar) -> None:
        with self._jar_lock:
            self._jar = jar
            self._jar_generation += 1

    def login(self) -> None:
        """`POST /api/login` with the configured credentials; stores the cookies for every thread."""
        if not self.settings.has_credentials:
            return
        with self._login_lock:
            # the old cookies stay in use until the new ones arrive: calls of other threads in the meantime
            # keep working (clearing first sent them without a cookie, into a 401)
            session = self._new_session()
            try:
                response = session.post(self.url('/login'), timeout=DEFAULT_TIMEOUT, data={
                    'username': self.settings.loop_username, 'password': self.settings.loop_password})
            finally:
                session.close()
            self._count(response.status_code)
            if response.status_code != 200:
                self._replace_jar(RequestsCookieJar())
                log.warning('login to %s failed: HTTP %d', self.base_url, response.status_code)
                raise LoopLoginError(f'login failed: HTTP {response.status_code}')
            self._replace_jar(response.cookies)
            self._logged_in = True
            log.info('logged in to %s as %s', self.base_url, self.settings.loop_username)

    def abort_transfers(self) -> None:
        """Cut the connections of downloads and uploads in progress (at shutdown: a stalled read would block
        until its timeout)."""
        self.in_flight.abort_transfers()

    def abort_uploads(self) -> None:
        """Cut the connections of `upload()` calls in progress; they raise a ConnectionError."""
        self.in_flight.abort_uploads()

    def close(self) -> None:
        """Close every thread's session (at node shutdown)."""
        with self._jar_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    # ---- requests -------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, timeout: Timeout = DEFAULT_TIMEOUT,
                cancel: threading.Event | None = None, retry_429: bool = True, **kwargs: Any) -> requests.Response:
        """One API call with login, one relogin on 401 and (unless `retry_429=False`) the 429 loop.

        Transport errors raise `requests.RequestException`; HTTP errors are returned for the caller to judge.
        """
        if self.settings.has_credentials and not self._logged_in:
            self.login()
        response = self._send_with_429(method, path, timeout, cancel, retry_429, kwargs)
        if response.status_code == 401:
            if self.settings.has_credentials:
                log.info('HTTP 401 from %s %s; logging in again', method, path)
                self._logged_in = False
                self.login()
                self._rewind(kwargs)
                response = self._send_with_429(method, path, timeout, cancel, retry_429, kwargs)
            else:
                self._rate_log.warning('401', 'HTTP 401 from %s %s: the Loop requires login: set '
                                       'LOOP_USERNAME and LOOP_PASSWORD', method, path)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request('GET', path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request('POST', path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request('PUT', path, **kwargs)

    def _send_with_429(self, method: str, path: str, timeout: Timeout, cancel: threading.Event | None,
                       retry_429: bool, kwargs: dict[str, Any]) -> requests.Response:
        attempt = 0
        while True:
            response = self._send(method, path, timeout, kwargs)
            if response.status_code != 429 or not retry_429:
                return response
            attempt += 1
            if attempt >= MAX_429_TRIES:
                log.warning('still HTTP 429 after %d tries: %s %s', attempt, method, path)
                return response
            wait = parse_retry_after(response.headers.get('Retry-After'))
            if wait is None:
                wait = full_jitter(exponential_delay(attempt, 2.0, 60.0))
            log.info('HTTP 429 from %s %s; retrying in %.1f s', method, path, wait)
            response.close()
            if self._wait(wait, cancel):
                return response
            self._rewind(kwargs)

    def _send(self, method: str, path: str, timeout: Timeout, kwargs: dict[str, Any]) -> requests.Response:
        try:
            response = self.session().request(method, self.url(path), timeout=timeout, **kwargs)
        except requests.RequestException as e:
            self.health.last_error = f'{method} {path}: {type(e).__name__}: {e}'
            self._count('error')
            raise
        self._count(response.status_code)
        if response.status_code < 500 and response.status_code != 429:
            self.health.last_ok = now_iso()
            if 200 <= response.status_code < 300:
                self._notify_success()
        else:
            self.health.last_error = f'{method} {path}: HTTP {response.status_code}'
        return response

    def _notify_success(self) -> None:
        for listener in list(self._success_listeners):
            try:
                listener()
            except Exception:  # noqa: BLE001 - a listener must not fail the call
                log.exception('Loop success listener failed')

    def _wait(self, seconds: float, cancel: threading.Event | None) -> bool:
        """Wait `seconds`; True if the node stops or `cancel` is set meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if self.stop.is_set() or (cancel is not None and cancel.is_set()):
                return True
            if remaining <= 0:
                return False
            if cancel is None:
                if self.stop.wait(remaining):
                    return True
            elif cancel.wait(min(remaining, 0.2)):
                return True

    @staticmethod
    def _rewind(kwargs: dict[str, Any]) -> None:
        """Rewind file objects of a multipart body before it is sent again."""
        files = kwargs.get('files') or []
        for _, part in files:
            body = part[1] if isinstance(part, tuple) else part
            if hasattr(body, 'seek'):
                body.seek(0)

    def _count(self, status: int | str) -> None:
        if self._on_status is not None:
            self._on_status(str(status))

    # ---- transfers ------------------------------------------------------------------------------------

    def download(self, path: str, folder: Path, *, timeout: Timeout = MODEL_TRANSFER_TIMEOUT,
                 cancel: threading.Event | None = None, prefix: str = 'download') -> Path:
        """Stream `GET path` into a new temp file in `folder` (1 MiB writes) and return it.

        Raises `DownloadError` for a non-200 answer (its body is the message) or an interruption; the temp
        file is deleted on every failure.
        """
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f'{prefix}-{uuid.uuid4().hex}.part'
        with self.in_flight.carrying(DOWNLOAD):
            response = self.request('GET', path, timeout=timeout, cancel=cancel, stream=True)
        try:
            if response.status_code != 200:
                raise DownloadError(f'HTTP {response.status_code}: {response.text[:500]}')
            total = int(response.headers.get('Content-Length') or 0)
            done = 0
            next_report = PROGRESS_LOG_BYTES
            started = time.monotonic()
            with open(target, 'wb', buffering=CHUNK_SIZE) as f:
                for chunk in response.iter_content(READ_SIZE):
                    if self.stop.is_set() or (cancel is not None and cancel.is_set()):
                        raise DownloadError('download interrupted')
                    f.write(chunk)
                    done += len(chunk)
                    if done >= next_report:
                        next_report += PROGRESS_LOG_BYTES
                        rate = done / max(1e-6, time.monotonic() - started) / 1e6
                        of_total = f' of {total / 1e6:.1f}' if total else ''
                        log.info('downloading %s: %.1f%s MB (%.1f MB/s)', path, done / 1e6, of_total, rate)
                f.flush()
                os.fsync(f.fileno())
            if total and done != total:
                raise DownloadError(f'download incomplete: {done} of {total} bytes')
            return target
        except requests.RequestException as e:
            target.unlink(missing_ok=True)
            if self.stop.is_set():
                raise DownloadError('download interrupted by shutdown') from e
            raise
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        finally:
            response.close()

    def upload(self, method: str, path: str, parts: Sequence[UploadPart], *,
               timeout: Timeout = MODEL_TRANSFER_TIMEOUT, cancel: threading.Event | None = None,
               retry_429: bool = True) -> requests.Response:
        """Multipart upload with every part in the repeated field `files` (loop-protocol.md §4.6)."""
        opened: list[BinaryIO] = []
        try:
            files = list(_multipart_fields(parts, opened))
            with self.in_flight.carrying(UPLOAD):
                return self.request(method, path, files=files, timeout=timeout, cancel=cancel,
                                    retry_429=retry_429)
        finally:
            for f in opened:
                f.close()


class DownloadError(Exception):
    """A download did not produce the file (non-200, interrupted, incomplete)."""


def _multipart_fields(parts: Iterable[UploadPart], opened: list[BinaryIO]) -> Iterable[tuple[str, tuple[str, Any, str]]]:
    for part in parts:
        if isinstance(part, (str, Path)):
            path = Path(part)
            f = open(path, 'rb')  # noqa: SIM115 - closed by the caller
            opened.append(f)
            yield 'files', (path.name, f, content_type_for(path.name))
        else:
            name, body = part[0], part[1]
            ctype = part[2] if len(part) > 2 else content_type_for(name)  # type: ignore[misc]
            yield 'files', (name, body, ctype)
