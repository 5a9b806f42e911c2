"""`loopnode check [--env FILE] [--unit FILE | --no-unit] [--logic SPEC] [detector|trainer|annotator|converter]`.

Builds the node's environment as systemd would (the unit's Environment=, then the env file), parses the
settings exactly as the node does (every error at once, exit 78), then checks what the node will need, one
line each (exit 1 if any fails). Writes nothing: no data folder, no uuids.json, no bytecode.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence, TextIO

from ..errors import ConfigError
from ..exits import EXIT_CONFIG
from ..logs import setup_logging
from ..loop.http import LoopHttp
from ..settings import NODE_TYPES, Settings
from . import local, loop_checks
from .report import CheckLine, Mark, failed, passed, skipped, summary, warned
from .unitfiles import ServiceUnit, parse_env_file, parse_service_unit

UNIT_FOLDER = Path('/etc/systemd/system')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='loopnode check', description=(
        'Check a node\'s settings and everything it needs before (re)starting it; changes nothing. '
        'Exit 0 when all checks pass, 1 when one fails, 78 for a settings error.'))
    parser.add_argument('node_type', nargs='?', default='detector', choices=NODE_TYPES, help='default: detector')
    parser.add_argument('--env', type=Path, metavar='FILE',
                        help='the env file to check (default: the unit\'s EnvironmentFile=; without a unit, '
                             'this process\'s environment)')
    parser.add_argument('--unit', type=Path, metavar='FILE',
                        help=f'the systemd unit (default: {UNIT_FOLDER}/loopnode-<type>.service if it exists)')
    parser.add_argument('--no-unit', action='store_true', help='ignore any installed unit (check the env file alone)')
    parser.add_argument('--logic', metavar='PKG.MODULE:NAME', help='default: LOOPNODE_LOGIC of the env file')
    return parser


class Environment:
    """The node's environment as systemd would build it, and the problems met while reading the files."""

    def __init__(self, node_type: str, env_file: Path | None, unit_file: Path | None, *, no_unit: bool = False) -> None:
        self.errors: list[CheckLine] = []
        default_unit = UNIT_FOLDER / f'loopnode-{node_type}.service'
        self.unit_path: Path | None = unit_file or (default_unit if default_unit.is_file() else None)
        self.no_unit_reason = f'none installed at {default_unit}'
        if no_unit:
            self.unit_path, self.no_unit_reason = None, 'not checked (--no-unit)'
        self.unit: ServiceUnit | None = None
        if self.unit_path is not None:
            text = self._read(self.unit_path, 'unit')
            self.unit = parse_service_unit(text) if text is not None else None
        files = [(env_file, False)] if env_file else [
            (Path(name.lstrip('-')), name.startswith('-')) for name in (self.unit.environment_files if self.unit else ())]
        self.files = [path for path, _ in files]
        self.values: dict[str, str] | None = None  # None: this process's environment (no unit, no file)
        if self.unit is not None or files:
            self.values = dict(self.unit.environment if self.unit else {})
            for path, optional in files:
                if optional and not path.exists():
                    continue
                text = self._read(path, 'env file')
                if text is None:
                    continue
                values, bad_lines = parse_env_file(text)
                self.values.update(values)
                self.errors += [failed(f'env file {path}', str(bad), 'write NAME=VALUE, one per line')
                                for bad in bad_lines]

    def _read(self, path: Path, what: str) -> str | None:
        try:
            return path.read_text(encoding='utf-8')
        except OSError as e:
            hint = 'run with sudo' if isinstance(e, PermissionError) else f'pass the right --{what.split()[0]} FILE'
            self.errors.append(failed(f'{what} {path}', f'cannot read it: {e.strerror}', hint))
            return None
        except UnicodeDecodeError as e:
            self.errors.append(failed(f'{what} {path}', f'cannot read it: not UTF-8 text (byte {e.start})',
                                      'save it as UTF-8'))
            return None

    def describe(self) -> str:
        sources = [f'env {", ".join(map(str, self.files))}'] if self.files else []
        if self.unit_path is not None:
            sources.append(f'unit {self.unit_path}')
        return '; '.join(sources) if sources else 'this shell\'s environment'


def setting_line(error: ConfigError, env: Environment) -> CheckLine:
    where = f' in {env.files[0]}' if env.files else ''
    found = f'{error.value!r}, expected' if error.value not in (None, '') else 'not set, expected'
    return failed(f'setting {error.name}', f'{found} {error.expected}', f'fix {error.name}{where}')


def run_checks(args: argparse.Namespace, out: TextIO) -> int:
    """Print one line per check and return the exit code."""
    node_type: str = args.node_type
    env = Environment(node_type, args.env, args.unit, no_unit=args.no_unit)
    write = _writer(out)
    write(f'loopnode check {node_type} ({env.describe()})')
    settings, problems = Settings.problems_in_env(env.values, node_type)
    errors = env.errors + [setting_line(problem, env) for problem in problems]
    if errors:
        for line in errors:
            write(line)
        write(f'{len(errors)} setting error(s): the node would not start (exit 78)')
        return EXIT_CONFIG
    count = f'{len(env.values)} variables' if env.values is not None else 'the environment'
    lines: list[CheckLine] = [passed('settings', f'{count} parsed, every value valid')]
    lines += [warned('settings', warning) for warning in settings.warnings]
    for line in lines:
        write(line)
    for line in _node_checks(settings, env, args.logic):
        lines.append(line)
        write(line)
    text, code = summary(lines)
    write(text)
    return code


def _node_checks(settings: Settings, env: Environment, logic_spec: str | None) -> Iterator[CheckLine]:
    """The checks after the settings, in the order the node needs them (a generator: each line shows at once)."""
    yield local.check_data_folder(settings, env.unit)
    yield local.check_port(settings)
    spec = logic_spec or (env.values or {}).get('LOOPNODE_LOGIC')
    logic_line, logic = local.load_logic(settings.node_type, spec)
    yield logic_line
    if settings.node_type == 'detector':
        yield local.check_current_model(settings)
    status = loop_checks.check_loop_status(settings)
    yield status
    http = LoopHttp(settings)
    rest = ', models' if settings.node_type == 'detector' else ''
    try:
        if status.mark is Mark.FAIL:
            yield skipped(f'login, project{rest}', 'not checked: the Loop did not answer')
        else:
            login = loop_checks.check_login(http, settings)
            yield login
            if login.mark is Mark.FAIL:
                yield skipped(f'project{rest}', 'not checked: login failed')
            else:
                project = loop_checks.check_project(http, settings)
                yield project
                if project.mark is Mark.FAIL and rest:
                    yield skipped('models', 'not checked: no such project')
                elif settings.node_type == 'detector':
                    target_line, target = loop_checks.deployment_target(http)
                    yield target_line
                    if logic is not None:
                        yield loop_checks.check_models_in_format(http, logic.model_format, target)
    finally:
        http.close()
    if env.unit_path is None or env.unit is None:
        yield skipped('systemd unit', env.no_unit_reason, 'see docs/systemd.md, or pass --unit FILE')
    else:
        yield local.check_unit(env.unit_path, env.unit, env.values or {})


def _writer(out: TextIO) -> Callable[[CheckLine | str], None]:
    """A function writing a line or a CheckLine to `out`, in ASCII when `out` cannot encode the marks."""
    try:
        '✔✖–→'.encode(out.encoding or 'ascii')
        ascii_only = False
    except (UnicodeEncodeError, LookupError):
        ascii_only = True

    def write(line: CheckLine | str) -> None:
        text = line.render(ascii_only=ascii_only) if isinstance(line, CheckLine) else line
        if ascii_only:  # e.g. '…' in a hint or a path in another script
            text = text.encode(out.encoding or 'ascii', 'replace').decode(out.encoding or 'ascii')
        out.write(text + '\n')
        out.flush()
    return write


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    setup_logging('ERROR')  # the report is the output; the node modules' own warnings would repeat it
    keep = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # importing the logic must not leave __pycache__ folders behind
    try:
        return run_checks(args, out or sys.stdout)
    finally:
        sys.dont_write_bytecode = keep
