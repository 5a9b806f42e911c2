"""The machine-side checks of `loopnode check`: data folder, port, logic, current_model and the systemd unit.

Each returns one `CheckLine`; none writes anything (the data folder is probed, never created).
"""
from __future__ import annotations

import errno
import grp
import json
import os
import pwd
import shutil
import socket
import stat
from pathlib import Path
from typing import Any

import requests

from ..cli import load_object
from ..data import DataError, ModelInformation
from ..loop.transfer import CURRENT_MODEL, MODEL_JSON
from ..settings import Settings
from .logic_api import logic_api_problems
from .report import CheckLine, failed, passed, skipped, warned
from .unitfiles import ServiceUnit, expand_variables, referenced_variables

HEALTHZ_TIMEOUT = 2.0  # s: asking whatever holds NODE_PORT whether it is a loopnode node
MIN_FREE_MB = 100  # a model download and a few uploads; the detector also needs OUTBOX_MIN_FREE_MB


def _within(path: Path, root: str) -> bool:
    return path == Path(root) or Path(root) in path.parents


def writable_for(folder: Path, user: str | None) -> bool:
    """Can `user` (default: whoever runs the check) create files in `folder`? Mode bits when root asks for another."""
    if user is None or os.geteuid() != 0:
        return os.access(folder, os.W_OK | os.X_OK)
    account = pwd.getpwnam(user)
    if account.pw_uid == 0:
        return True
    info = folder.stat()
    if info.st_uid == account.pw_uid:
        return info.st_mode & (stat.S_IWUSR | stat.S_IXUSR) == stat.S_IWUSR | stat.S_IXUSR
    if info.st_gid in os.getgrouplist(user, account.pw_gid):
        return info.st_mode & (stat.S_IWGRP | stat.S_IXGRP) == stat.S_IWGRP | stat.S_IXGRP
    return info.st_mode & (stat.S_IWOTH | stat.S_IXOTH) == stat.S_IWOTH | stat.S_IXOTH


def _known_user(user: str | None) -> str | None:
    if user is None:
        return None
    try:
        pwd.getpwnam(user)
    except KeyError:
        return None
    return user


def check_data_folder(settings: Settings, unit: ServiceUnit | None) -> CheckLine:
    """DATA_FOLDER (or the folder it will be created in) is writable for the service and has free space."""
    folder = settings.data_folder
    subject = f'data folder {folder}'
    if unit is not None and unit.protect_system == 'strict':
        roots = unit.writable_roots()
        if not any(_within(folder, root) for root in roots):
            return failed(subject, f'outside what the unit may write (ProtectSystem=strict: {", ".join(roots)})',
                          f'set DATA_FOLDER under {roots[0] if roots else "/var/lib/loopnode"} or add it to '
                          'ReadWritePaths= in the unit')
    user = _known_user(unit.user if unit else None)
    who = f'user {user}' if user else 'you'
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    state_root = next((Path(f'/var/lib/{name}') for name in (unit.state_directories if unit else ())
                       if _within(folder, f'/var/lib/{name}')), None)
    if state_root is not None and not state_root.exists():
        detail = f'systemd creates {state_root} for {who} at start (StateDirectory=)'
    elif not existing.is_dir():
        return failed(subject, f'cannot be created: {existing} is not a folder', 'set DATA_FOLDER to a folder path')
    elif not writable_for(existing, user):
        return failed(subject, f'{existing} is not writable for {who}',
                      f'chown {user or "the service user"} {existing} or set DATA_FOLDER to a writable folder')
    elif existing != folder:
        detail = f'does not exist yet; {existing} is writable for {who}, the node creates it'
    else:
        detail = f'writable for {who}'
    needed_mb = max(MIN_FREE_MB, settings.outbox_min_free_mb if settings.node_type == 'detector' else 0)
    free_mb = shutil.disk_usage(existing).free // (1024 * 1024)
    if free_mb < needed_mb:
        return failed(subject, f'only {free_mb} MB free, {needed_mb} MB needed',
                      'free some space or put DATA_FOLDER on a larger disk')
    return passed(subject, f'{detail}, {free_mb / 1024:.1f} GB free')


def check_port(settings: Settings) -> CheckLine:
    """NODE_HOST:NODE_PORT can be bound now (as the node's server binds it, with SO_REUSEADDR)."""
    host, port = settings.node_host, settings.node_port
    subject = f'port {host}:{port}'
    if port == 0:
        return passed(subject, 'NODE_PORT=0: the node takes any free port')
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        return failed(subject, f'NODE_HOST does not resolve ({e})', 'set NODE_HOST to an address of this machine')
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE and _loopnode_listens(host, port):
                return warned(subject, 'in use by a running loopnode node (its restart frees it)',
                              'if that is not this node, stop it or set NODE_PORT')
            if e.errno == errno.EADDRINUSE:
                return failed(subject, 'in use by another process',
                              f"find it with `ss -ltnp 'sport = :{port}'`; stop it or set NODE_PORT")
            if e.errno == errno.EACCES:
                return failed(subject, f'not allowed ({e.strerror})', 'use a port >= 1024 or set NODE_PORT')
            return failed(subject, f'cannot bind: {e.strerror}', 'set NODE_HOST to an address of this machine')
    return passed(subject, 'free')


def _loopnode_listens(host: str, port: int) -> bool:
    """Whether what listens on host:port answers `GET /healthz` as a loopnode node does (the node being checked,
    running while its env file is edited: `loopnode check && systemctl restart ...`)."""
    probe = {'': '127.0.0.1', '0.0.0.0': '127.0.0.1', '::': '::1'}.get(host, host)
    url = f'http://[{probe}]:{port}/healthz' if ':' in probe else f'http://{probe}:{port}/healthz'
    try:
        with requests.get(url, timeout=HEALTHZ_TIMEOUT, allow_redirects=False) as response:
            body = response.json() if response.status_code in (200, 500) else None
    except (requests.RequestException, ValueError):
        return False
    return isinstance(body, dict) and body.get('status') in ('ok', 'error')


def load_logic(node_type: str, spec: str | None) -> tuple[CheckLine, Any]:
    """Import `--logic` (a class or function is called, as the node does) and check its API; (line, logic or None)."""
    if not spec:
        return skipped('logic', 'none given', 'pass --logic pkg.module:name or set LOOPNODE_LOGIC in the env file'), None
    subject = f'logic {spec}'
    try:
        logic = load_object(spec)
    except ValueError as e:
        hint = ('check the name after the colon' if 'has no attribute' in str(e) else
                'install the package that provides it into the same venv as loopnode')
        return failed(subject, str(e), hint), None
    except Exception as e:  # noqa: BLE001 - a logic's import or constructor may raise anything
        return failed(subject, f'{type(e).__name__} while loading: {e}', 'fix the logic package'), None
    missing, what = logic_api_problems(node_type, logic)
    if missing:
        return failed(subject, f'imports, but not {what.split(" for ")[0]}: {"; ".join(missing)}',
                      f'see docs/{"detector-logic" if node_type == "detector" else node_type}.md'), None
    return passed(subject, f'imports; {what}'), logic


def check_current_model(settings: Settings) -> CheckLine:
    """`current_model` (if any) points to a folder with a valid model.json.

    The model is not built: the check runs beside the live detector, and a build there would load a second
    engine onto the device (GPU memory, seconds of start-up). That the factory imports and has a callable
    `build` is the logic line's part.
    """
    link = settings.data_folder / CURRENT_MODEL
    subject = 'current_model'
    if not link.exists():
        if link.is_symlink():
            return failed(subject, f'points to {os.readlink(link)}, which does not exist',
                          'remove the link; the node then downloads its deployment target')
        return skipped(subject, 'none yet: the node downloads its deployment target')
    folder = link.resolve()
    try:
        ModelInformation.from_dict(json.loads((folder / MODEL_JSON).read_text(encoding='utf-8')))
    except (OSError, ValueError, DataError) as e:
        return failed(subject, f'{folder.name}: invalid {MODEL_JSON}: {e}', 'remove current_model and restart')
    return passed(subject, f'{folder.name}: model.json valid; not built (a check loads no model)')


def check_unit(unit_path: Path, unit: ServiceUnit, environ: dict[str, str]) -> CheckLine:
    """The unit's ExecStart program exists and is executable, its variables are set, its User= exists."""
    subject = f'systemd unit {unit_path.name}'
    if not unit.exec_start:
        return failed(subject, 'has no ExecStart=', 'install the unit from loopnode\'s systemd/ folder')
    for name in referenced_variables(unit.exec_start):
        if not environ.get(name):
            return failed(subject, f'ExecStart uses ${{{name}}}, which is not set', f'set {name} in the env file')
    program = unit.executable
    if program is None:
        return failed(subject, f'ExecStart={unit.exec_start} is not a command line (unbalanced quote?)',
                      'fix the quotes in ExecStart=')
    if not os.path.isabs(program):
        return failed(subject, f'ExecStart runs {program!r}, not an absolute path', 'use the venv\'s bin/loopnode')
    if not os.path.isfile(program):
        return failed(subject, f'ExecStart runs {program}, which does not exist',
                      'install loopnode into that venv (docs/install.md) or fix ExecStart=')
    if not os.access(program, os.X_OK):
        return failed(subject, f'{program} is not executable', f'chmod +x {program}')
    if unit.user and _known_user(unit.user) is None:
        return failed(subject, f'User={unit.user} does not exist', 'create it (docs/systemd.md, step 1)')
    missing_groups = [g for g in unit.supplementary_groups if not _group_exists(g)]
    if missing_groups:
        return failed(subject, f'SupplementaryGroups={" ".join(missing_groups)} does not exist',
                      f'sudo groupadd -f {missing_groups[0]}')
    command = expand_variables(unit.exec_start, environ)
    return passed(subject, f'runs `{command}`' + (f' as {unit.user}' if unit.user else ''))


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
