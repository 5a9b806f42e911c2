"""The Loop-side checks of `loopnode check`: reachable (and TLS), login, project, deployment target and formats.

They use the node's own `LoopHttp` (same base URL, CA bundle, cookies and timeouts) and only read.
"""
from __future__ import annotations

import re
import time

import requests

from ..data import DataError, DeploymentTarget, ModelListEntry
from ..errors import LoopLoginError
from ..loop.http import STATUS_TIMEOUT, LoopHttp
from ..settings import Settings
from .report import CheckLine, failed, passed, skipped


def check_loop_status(settings: Settings) -> CheckLine:
    """`GET /api/status` answers 200; over https the certificate verifies (with LOOP_SSL_CERT_PATH when set)."""
    url = f'{settings.loop_base_url}/api/status'
    subject = f'Loop {settings.loop_base_url}'
    verify: bool | str = settings.loop_ssl_cert_path or True
    started = time.monotonic()
    try:
        response = requests.get(url, timeout=STATUS_TIMEOUT, verify=verify)
    except requests.exceptions.SSLError as e:
        hint = ('LOOP_SSL_CERT_PATH does not hold the CA that signed the Loop\'s certificate'
                if settings.loop_ssl_cert_path else
                'set LOOP_SSL_CERT_PATH to the CA bundle that signed the Loop\'s certificate')
        if 'WRONG_VERSION_NUMBER' in str(e):
            hint = 'the server answers plain http on that port: write LOOP_HOST=http://…'
        return failed(subject, f'TLS verification failed: {_reason(e)}', hint)
    except requests.exceptions.Timeout:
        return failed(subject, f'no answer within {STATUS_TIMEOUT[1]:g} s', 'check the network and LOOP_HOST')
    except requests.RequestException as e:
        return failed(subject, f'cannot connect: {_reason(e)}', 'check LOOP_HOST (host[:port] or URL) and the network')
    elapsed = (time.monotonic() - started) * 1000
    if response.status_code != 200:
        return failed(subject, f'GET /api/status answered HTTP {response.status_code}',
                      'the Loop is not ready, or LOOP_HOST points to another server')
    tls = ''
    if settings.loop_base_url.startswith('https://'):
        tls = f', TLS verified with {"LOOP_SSL_CERT_PATH" if settings.loop_ssl_cert_path else "the system CAs"}'
    return passed(subject, f'GET /api/status answered 200 in {elapsed:.0f} ms{tls}')


def _reason(error: Exception) -> str:
    """The useful part of a requests error, e.g. 'Connection refused' or 'self-signed certificate'."""
    text = str(error)
    for pattern in (r'certificate verify failed: ([^(\'")]+)', r'\[SSL: \w+\] ([^(\'")]+)',
                    r'\[Errno -?\d+\] ([^\'")]+)'):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip()
    return text[:200]


def check_login(http: LoopHttp, settings: Settings) -> CheckLine:
    """With LOOP_USERNAME and LOOP_PASSWORD set, `POST /api/login` answers 200."""
    if not settings.has_credentials:
        hint = ''
        if settings.loop_username or settings.loop_password:
            hint = 'only one of LOOP_USERNAME and LOOP_PASSWORD is set: the node logs in only with both'
        return skipped('login', 'no credentials: requests go without login', hint)
    subject = f'login as {settings.loop_username}'
    try:
        http.login()
    except LoopLoginError as e:
        return failed(subject, f'refused ({str(e).replace("login failed: ", "")})',
                      'check LOOP_USERNAME and LOOP_PASSWORD')
    except requests.RequestException as e:
        return failed(subject, f'failed: {_reason(e)}', 'check the network')
    return passed(subject, 'accepted')


def check_project(http: LoopHttp, settings: Settings) -> CheckLine:
    """The configured organization and project exist (`GET /api/{org}/projects/{project}`)."""
    if not settings.loop_organization or not settings.loop_project:
        return skipped('project', 'LOOP_ORGANIZATION / LOOP_PROJECT not set: the node takes any project')
    subject = f'project {settings.loop_organization}/{settings.loop_project}'
    try:
        response = http.get(http.project_path(), retry_429=False)
    except requests.RequestException as e:
        return failed(subject, f'request failed: {_reason(e)}', 'check the network')
    if response.status_code == 200:
        return passed(subject, 'exists')
    if response.status_code == 401:
        return failed(subject, 'the Loop requires login (HTTP 401)', 'set LOOP_USERNAME and LOOP_PASSWORD')
    if response.status_code in (403, 404):
        return failed(subject, f'not found (HTTP {response.status_code}){_visible(http, settings)}',
                      'check LOOP_ORGANIZATION and LOOP_PROJECT (the ids in the Loop\'s URLs, lower case)')
    return failed(subject, f'HTTP {response.status_code}: {response.text[:120]}', 'ask the Loop\'s operator')


def _visible(http: LoopHttp, settings: Settings) -> str:
    """'; visible: org/a, org/b' from `GET /api/projects`, or '' when that fails."""
    try:
        response = http.get('/projects', retry_429=False)
        projects = response.json()['projects'] if response.status_code == 200 else []
        names = sorted(f'{p["organization_id"]}/{p["project_id"]}' for p in projects)
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return ''
    return f'; visible: {", ".join(names[:5])}{" …" if len(names) > 5 else ""}' if names else ''


def deployment_target(http: LoopHttp) -> tuple[CheckLine, DeploymentTarget | None]:
    """`GET P/deployment/target`: the line, and the target when there is one."""
    subject = 'deployment target'
    try:
        response = http.get(http.project_path('/deployment/target'), retry_429=False)
    except requests.RequestException as e:
        return failed(subject, f'request failed: {_reason(e)}', 'check the network'), None
    if response.status_code == 404:
        return skipped(subject, 'none deployed (HTTP 404): the node keeps the model it has',
                       'deploy a model in the Loop'), None
    if response.status_code != 200:
        return failed(subject, f'HTTP {response.status_code}: {response.text[:120]}'), None
    try:
        target = DeploymentTarget.from_dict(response.json())
    except (ValueError, DataError) as e:
        return failed(subject, f'invalid answer: {e}', 'ask the Loop\'s operator'), None
    if target.version is None or target.model_uuid is None:
        return skipped(subject, 'none deployed: the node keeps the model it has', 'deploy a model in the Loop'), None
    return passed(subject, f'{target.version} ({target.model_uuid})'), target


def check_models_in_format(http: LoopHttp, model_format: str, target: DeploymentTarget | None) -> CheckLine:
    """The deployed model (or, without a target, any model) exists in the logic's format (`GET P/models`)."""
    subject = f'models in format {model_format}'
    try:
        response = http.get(http.project_path('/models'), params={'format': model_format}, retry_429=False)
        if response.status_code != 200:
            return failed(subject, f'GET models answered HTTP {response.status_code}')
        entries = [ModelListEntry.from_dict(m, path=f'models[{i}]') for i, m in enumerate(response.json()['models'])]
    except (requests.RequestException, ValueError, KeyError, TypeError, DataError) as e:
        return failed(subject, f'cannot list them: {_reason(e)}')
    versions = [m.version for m in entries if model_format in m.formats]
    if target is not None and target.version not in versions:
        return failed(subject, f'the deployed {target.version} has no {model_format} '
                               f'({len(versions)} other model(s) have it)',
                      f'convert {target.version} to {model_format} or deploy a model that has it')
    if not versions:
        return failed(subject, 'none', f'train or convert a model to {model_format}')
    shown = ', '.join(versions[-3:]) + (', …' if len(versions) > 3 else '')
    deployed = f'; the deployed {target.version} has it' if target is not None else ''
    return passed(subject, f'{len(versions)} ({shown}){deployed}')
