"""devloop login modes (loop-protocol.md §4.2, §11.1): open, login, strict with cookie `devloop_auth`."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests

from loopnode.devloop import DEMO_MODELS, DevLoop
from loopnode.devloop.auth import AuthPolicy, parse_users
from tests.devloop.conftest import DEMO


@pytest.fixture(scope='module')
def strict_loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevLoop]:
    loop = DevLoop(tmp_path_factory.mktemp('strict'), auth='strict', users='admin:admin,robot:secret')
    loop.start()
    yield loop
    loop.stop()


def test_parse_users_and_policy() -> None:
    assert parse_users('a:b, c:,d:e:f') == {'a': 'b', 'c': '', 'd': 'e:f'}
    with pytest.raises(ValueError):
        parse_users('nocolon')
    with pytest.raises(ValueError):
        AuthPolicy('sometimes')
    strict = AuthPolicy('strict', {'a': 'b'})
    assert strict.accepts('a', 'b') and not strict.accepts('a', 'x') and not strict.accepts('', '')
    assert AuthPolicy('login').accepts('', '') and not AuthPolicy('open').cookie_required


def test_open_mode_needs_no_cookie_but_login_works(loop: DevLoop) -> None:
    """§11.1 open: no checks; login is always 200 with a cookie."""
    assert requests.get(loop.url + DEMO + '/data', timeout=5).status_code == 200
    response = requests.post(loop.url + '/api/login', data={'username': '', 'password': ''}, timeout=5)
    assert response.status_code == 200 and response.cookies.get('devloop_auth')


def test_login_mode_accepts_any_credentials(tmp_path: Path) -> None:
    """§11.1 login: cookie needed (401 without), any credentials (empty too) log in; exempt endpoints stay open."""
    loop = DevLoop(tmp_path / 'login', auth='login')
    loop.start()
    try:
        assert requests.get(loop.url + DEMO + '/data', timeout=5).status_code == 401
        assert requests.get(loop.url + '/api/status', timeout=5).status_code == 200
        file_url = loop.url + DEMO + f'/models/{DEMO_MODELS["1.1"]}/mocked/file'
        assert requests.get(file_url, timeout=5).status_code == 200
        session = requests.Session()
        assert session.post(loop.url + '/api/login', data={'username': '', 'password': ''}, timeout=5).ok
        other = requests.Session()
        assert other.post(loop.url + '/api/login', data={'username': '', 'password': ''}, timeout=5).ok
        assert session.get(loop.url + DEMO + '/data', timeout=5).status_code == 200
        assert other.get(loop.url + DEMO + '/data', timeout=5).status_code == 200  # concurrent cookies
        bogus = requests.get(loop.url + DEMO + '/data', cookies={'devloop_auth': 'forged'}, timeout=5)
        assert bogus.status_code == 401
        assert session.post(loop.url + '/api/logout', timeout=5).status_code == 200
        assert requests.get(loop.url + DEMO + '/data', cookies={'devloop_auth': 'x'}, timeout=5).status_code == 401
        assert other.get(loop.url + DEMO + '/data', timeout=5).status_code == 200
        log = requests.get(loop.url + '/admin/requests?limit=50', timeout=5).json()['requests']
        assert any(e['status'] == 401 and not e['cookie'] for e in log)
        assert any(e['status'] == 200 and e['cookie'] for e in log)
    finally:
        loop.stop()


def test_strict_mode_checks_users(strict_loop: DevLoop) -> None:
    """§11.1 strict: only DEVLOOP_USERS may log in; POST P/images is open (upstream sends no cookie)."""
    url = strict_loop.url
    assert requests.post(url + '/api/login', data={'username': 'admin', 'password': 'x'}, timeout=5).status_code == 401
    assert requests.post(url + '/api/login', data={}, timeout=5).status_code == 401
    session = requests.Session()
    assert session.post(url + '/api/login', data={'username': 'robot', 'password': 'secret'}, timeout=5).ok
    assert session.get(url + '/api/projects', timeout=5).status_code == 200
    assert requests.get(url + '/api/projects', timeout=5).status_code == 401
    upload = requests.post(url + DEMO + '/images', files=[], timeout=5)
    assert upload.status_code == 422  # reached the handler: no login needed, but no parts
