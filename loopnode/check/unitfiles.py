"""Read systemd's files the way systemd does, for `loopnode check`: an `EnvironmentFile=` and a unit's [Service].

Pure functions on text (no I/O): the check builds the node's environment from them exactly as systemd would,
Environment= first, then the env file's values on top.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
EXEC_PREFIXES = '-@:+!'


@dataclass(frozen=True)
class EnvFileError:
    """A line systemd would not read as `NAME=VALUE` (systemd skips it with a warning)."""

    line: int
    text: str

    def __str__(self) -> str:
        return f'line {self.line}: {self.text!r} is not NAME=VALUE (systemd ignores it)'


def parse_env_file(text: str) -> tuple[dict[str, str], list[EnvFileError]]:
    """The assignments of an env file (comments `#`/`;`, quotes, `\\` continuations) and the lines that are not."""
    values: dict[str, str] = {}
    errors: list[EnvFileError] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        number = index + 1
        line = lines[index].strip()
        index += 1
        while line.endswith('\\') and index < len(lines):  # continuation of an unquoted value
            line = line[:-1] + lines[index].strip()
            index += 1
        if not line or line[0] in '#;':
            continue
        name, sep, value = line.partition('=')
        name = name.strip()
        if name.startswith('export '):  # systemd rejects it; so do we, with the hint
            name = ''
        if not sep or not NAME.fullmatch(name):
            errors.append(EnvFileError(number, line))
            continue
        values[name] = _unquote(value.strip())
    return values, errors


def _unquote(value: str) -> str:
    """`"a b"` → `a b` (with `\\"` and `\\\\` escapes), `'a b'` → `a b`; anything else as it is."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r'\\(["\\$`])', r'\1', value[1:-1])
    return value


@dataclass(frozen=True)
class ServiceUnit:
    """What `loopnode check` needs from a unit's [Service] section."""

    environment: dict[str, str] = field(default_factory=dict)
    environment_files: tuple[str, ...] = ()
    exec_start: str | None = None
    user: str | None = None
    supplementary_groups: tuple[str, ...] = ()
    state_directories: tuple[str, ...] = ()
    read_write_paths: tuple[str, ...] = ()
    protect_system: str | None = None

    @property
    def executable(self) -> str | None:
        """The program ExecStart= runs (its first word, without systemd's `-@:+!` prefixes)."""
        if not self.exec_start:
            return None
        try:
            words = shlex.split(self.exec_start)
        except ValueError:  # an unbalanced quote: systemd refuses such a command line
            return None
        return words[0].lstrip(EXEC_PREFIXES) if words else None

    def writable_roots(self) -> tuple[str, ...]:
        """Folders the service may write under `ProtectSystem=strict`: StateDirectory= and ReadWritePaths=."""
        states = [f'/var/lib/{name}' for name in self.state_directories]
        return tuple(dict.fromkeys(states + [path.lstrip('-+') for path in self.read_write_paths]))


def parse_service_unit(text: str) -> ServiceUnit:
    """The [Service] settings of a unit file that decide the node's environment, user and writable folders."""
    section = ''
    environment: dict[str, str] = {}
    lists: dict[str, list[str]] = {'EnvironmentFile': [], 'SupplementaryGroups': [], 'StateDirectory': [],
                                   'ReadWritePaths': []}
    single: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in '#;':
            continue
        if line.startswith('[') and line.endswith(']'):
            section = line[1:-1]
            continue
        if section != 'Service' or '=' not in line:
            continue
        key, _, value = (part.strip() for part in line.partition('='))
        if key == 'Environment':
            try:
                words = shlex.split(value)
            except ValueError:  # an unbalanced quote: systemd ignores the assignment
                continue
            for word in words:
                name, sep, val = word.partition('=')
                if sep and NAME.fullmatch(name):
                    environment[name] = val
        elif key in lists:
            if not value:  # an empty assignment resets the list, as in systemd
                lists[key].clear()
            elif key == 'EnvironmentFile':
                lists[key].append(value)
            else:
                lists[key].extend(value.split())
        elif key in ('ExecStart', 'User', 'ProtectSystem'):
            single[key] = value
    return ServiceUnit(environment=environment, environment_files=tuple(lists['EnvironmentFile']),
                       exec_start=single.get('ExecStart'), user=single.get('User'),
                       supplementary_groups=tuple(lists['SupplementaryGroups']),
                       state_directories=tuple(lists['StateDirectory']),
                       read_write_paths=tuple(lists['ReadWritePaths']),
                       protect_system=single.get('ProtectSystem'))


VARIABLE = re.compile(r'\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)')


def expand_variables(text: str, environ: dict[str, str]) -> str:
    """systemd's `${NAME}` (and `$NAME`) substitution in ExecStart=; unset names become empty."""
    return VARIABLE.sub(lambda m: environ.get(m.group(1) or m.group(2), ''), text)


def referenced_variables(text: str) -> list[str]:
    """The names ExecStart= substitutes, in order."""
    return [a or b for a, b in VARIABLE.findall(text)]
