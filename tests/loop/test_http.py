"""LoopHttp unit tests (`responses`): login, 401 relogin, 429 loop, timeouts, transfers (loop-protocol.md §4)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

from loopnode.errors import LoopLoginError
from loopnode.loop.http import DEFAULT_TIMEOUT, DownloadError, LoopHttp
from loopnode.loop.inflight import DOWNLOAD
from loopnode.settings import Settings
from tests.helpers import until

BASE = 'http://loop.test'


def make_http(tmp_path: Path, stop: threading.Event | None = None, **env: str) -> LoopHttp:
    values = {'DATA_FOLDER': str(tmp_path), 'LOOP_HOST': BASE, 'LOOP_ORGANIZATION': 'o', 'LOOP_PROJECT': 'p'}
    values.update(env)
    return LoopHttp(Settings.from_env(values), stop)


@responses.activate
def test_no_credentials_means_no_login_and_no_cookies(tmp_path: Path) -> None:
    responses.get(f'{BASE}/api/o/projects/p/data', json={'image_ids': []})
    http = make_http(tmp_path, USERNAME='root')
    assert http.get(http.project_path('/data')).status_code == 200
    assert [c.request.url for c in responses.calls] == [f'{BASE}/api/o/projects/p/data']
    assert 'Cookie' not in responses.calls[0].request.headers


@responses.activate
def test_login_form_and_cookie_on_every_call(tmp_path: Path) -> None:
    responses.post(f'{BASE}/api/login', headers={'Set-Cookie': 'session=abc; Path=/'},
                   match=[matchers.urlencoded_params_matcher({'username': 'u', 'password': 'pw'})])
    responses.get(f'{BASE}/api/status')
    http = make_http(tmp_path, LOOP_USERNAME='u', LOOP_PASSWORD='pw')
    http.get('/status')
    http.get('/status')
    assert [c.request.url for c in responses.calls] == [f'{BASE}/api/login', f'{BASE}/api/status', f'{BASE}/api/status']
    assert responses.calls[2].request.headers['Cookie'] == 'session=abc'


@responses.activate
def test_cookies_reach_other_threads_after_relogin(tmp_path: Path) -> None:
    logins = iter(['session=one', 'session=two'])
    responses.add_callback(responses.POST, f'{BASE}/api/login',
                           callback=lambda req: (200, {'Set-Cookie': next(logins) + '; Path=/'}, ''))
    responses.get(f'{BASE}/api/status')
    http = make_http(tmp_path, LOOP_USERNAME='u', LOOP_PASSWORD='pw')
    http.get('/status')
    http.login()
    seen: list[str] = []
    t = threading.Thread(target=lambda: seen.append(http.get('/status').request.headers['Cookie']))
    t.start()
    t.join()
    http.get('/status')
    assert seen == ['session=two'] and responses.calls[-1].request.headers['Cookie'] == 'session=two'


@responses.activate
def test_calls_during_a_relogin_keep_the_old_cookie(tmp_path: Path) -> None:
    """A call of another thread while a relogin is under way still carries the old cookie (no 401 from the race)."""
    logins = iter(['session=one', 'session=two'])
    during: list[str] = []
    http = make_http(tmp_path, LOOP_USERNAME='u', LOOP_PASSWORD='pw')

    def login(_request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        cookie = next(logins)
        if cookie == 'session=two':  # the relogin: another thread calls the Loop meanwhile
            t = threading.Thread(target=lambda: during.append(http.get('/status').request.headers.get('Cookie', '')))
            t.start()
            t.join()
        return 200, {'Set-Cookie': cookie + '; Path=/'}, ''

    responses.add_callback(responses.POST, f'{BASE}/api/login', callback=login)
    responses.get(f'{BASE}/api/status')
    http.get('/status')
    http.login()
    assert during == ['session=one']
    assert http.get('/status').request.headers['Cookie'] == 'session=two'


@responses.activate
def test_failed_relogin_clears_the_cookies(tmp_path: Path) -> None:
    """A refused relogin leaves no stale cookie behind (loop-protocol.md §6.2 step 3: the jar starts empty)."""
    answers = iter([(200, {'Set-Cookie': 'session=one; Path=/'}, ''), (403, {}, '')])
    responses.add_callback(responses.POST, f'{BASE}/api/login', callback=lambda _r: next(answers))
    responses.get(f'{BASE}/api/status')
    http = make_http(tmp_path, LOOP_USERNAME='u', LOOP_PASSWORD='pw')
    http.get('/status')
    with pytest.raises(LoopLoginError):
        http.login()
    assert http._copy_jar().get('session') is None


@responses.activate
def test_login_failure_raises_without_password_in_message(tmp_path: Path) -> None:
    responses.post(f'{BASE}/api/login', status=403)
    http = make_http(tmp_path, LOOP_USERNAME='u', LOOP_PASSWORD='hunter2')
    with pytest.raises(LoopLoginError, match='login failed: HTTP 403') as e:
        http.get('/status')
    assert 'hunter2' not in str(e.value)


@responses.activate
def test_401_relogs_in_once_and_repeats(tmp_path: Path) -> None:
    responses.post(f'{BASE}/api/login', headers={'Set-Cookie': 's=1; Path=/'})
    responses.get(f'{BASE}/api/x', status=401)
    responses.get(f'{BASE}/api/x', status=401)
    http = make_http(tmp_path, LOOP_USERNAME='u', LOOP_PASSWORD='pw')
    assert http.get('/x').status_code == 401  # the second answer is returned whatever it is
    assert [c.request.method + ' ' + c.request.path_url for c in responses.calls] == [
        'POST /api/login', 'GET /api/x', 'POST /api/login', 'GET /api/x']


@responses.activate
def test_401_without_credentials_is_returned(tmp_path: Path) -> None:
    responses.get(f'{BASE}/api/x', status=401)
    assert make_http(tmp_path).get('/x').status_code == 401
    assert len(responses.calls) == 1


@responses.activate
def test_429_honours_retry_after(tmp_path: Path) -> None:
    responses.get(f'{BASE}/api/x', status=429, headers={'Retry-After': '1'})
    responses.get(f'{BASE}/api/x', status=200)
    http = make_http(tmp_path)
    started = time.monotonic()
    assert http.get('/x').status_code == 200
    assert time.monotonic() - started >= 1.0 and len(responses.calls) == 2


@responses.activate
def test_429_wait_ends_on_stop(tmp_path: Path) -> None:
    responses.get(f'{BASE}/api/x', status=429, headers={'Retry-After': '100'})
    stop = threading.Event()
    http = make_http(tmp_path, stop)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert http.get('/x').status_code == 429
    assert time.monotonic() - started < 5


@responses.activate
def test_429_gives_up_after_20_tries(tmp_path: Path) -> None:
    responses.get(f'{BASE}/api/x', status=429, headers={'Retry-After': '0'})
    assert make_http(tmp_path).get('/x').status_code == 429
    assert len(responses.calls) == 20


@responses.activate
def test_429_not_retried_when_asked(tmp_path: Path) -> None:
    responses.get(f'{BASE}/api/x', status=429, headers={'Retry-After': '0'})
    assert make_http(tmp_path).get('/x', retry_429=False).status_code == 429
    assert len(responses.calls) == 1


def test_every_call_has_a_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    def fake_request(self: requests.Session, method: str, url: str, **kwargs: object) -> requests.Response:
        seen.append(kwargs.get('timeout'))
        r = requests.Response()
        r.status_code = 200
        return r
    monkeypatch.setattr(requests.Session, 'request', fake_request)
    make_http(tmp_path).get('/x')
    assert seen == [DEFAULT_TIMEOUT]


def test_ca_bundle_is_used(tmp_path: Path) -> None:
    """F14 (CA part): every session of the node verifies against LOOP_SSL_CERT_PATH."""
    ca = tmp_path / 'ca.pem'
    ca.write_text('x')
    http = make_http(tmp_path, LOOP_SSL_CERT_PATH=str(ca))
    assert http.session().verify == str(ca)


def test_default_base_url_for_uploads(tmp_path: Path) -> None:
    """F14 (URL part): with LOOP_HOST unset, every path (the outbox's included) goes to the REST base."""
    http = LoopHttp(Settings.from_env({'DATA_FOLDER': str(tmp_path), 'LOOP_ORGANIZATION': 'o', 'LOOP_PROJECT': 'p'}))
    assert http.url(http.project_path('/images')) == 'https://learning-loop.ai/api/o/projects/p/images'


@responses.activate
def test_download_streams_to_a_file_and_cleans_up(tmp_path: Path) -> None:
    body = b'z' * (3 * 1024 * 1024 + 5)
    responses.get(f'{BASE}/api/m', body=body)
    responses.get(f'{BASE}/api/missing', status=404, body='no such model')
    http = make_http(tmp_path)
    path = http.download('/m', tmp_path / 'tmp')
    assert path.read_bytes() == body and path.parent == tmp_path / 'tmp'
    with pytest.raises(DownloadError, match='HTTP 404: no such model'):
        http.download('/missing', tmp_path / 'tmp')
    assert list((tmp_path / 'tmp').iterdir()) == [path]


@responses.activate
def test_upload_repeats_the_files_field(tmp_path: Path) -> None:
    responses.put(f'{BASE}/api/up')
    f = tmp_path / 'weights.bin'
    f.write_bytes(b'w')
    make_http(tmp_path).upload('PUT', '/up', [f, ('model.json', b'{}')])
    body = responses.calls[0].request.body
    assert body.count(b'name="files"') == 2
    assert b'filename="weights.bin"' in body and b'Content-Type: application/json' in body


def test_abort_transfers_ends_a_stalled_download(tmp_path: Path) -> None:
    """A download whose server stops sending is cut at shutdown instead of blocking until its read timeout."""
    import socket as socketlib
    server = socketlib.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted: list[socketlib.socket] = []

    def serve() -> None:
        conn, _ = server.accept()
        accepted.append(conn)
        conn.recv(65536)
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n' + b'x' * 1000)  # then stalls
    serving = threading.Thread(target=serve)
    serving.start()
    stop = threading.Event()
    http = make_http(tmp_path, stop, LOOP_HOST=f'http://127.0.0.1:{port}')
    errors: list[Exception] = []

    def download() -> None:
        try:
            http.download('/m', tmp_path / 'tmp')
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)
    downloading = threading.Thread(target=download)
    downloading.start()
    serving.join(5)
    until(lambda: http.in_flight.count(DOWNLOAD) and list((tmp_path / 'tmp').iterdir()), 5)  # headers read
    stop.set()
    http.abort_transfers()
    downloading.join(5)
    assert not downloading.is_alive() and isinstance(errors[0], DownloadError)
    assert list((tmp_path / 'tmp').iterdir()) == []
    for conn in accepted:
        conn.close()
    server.close()
