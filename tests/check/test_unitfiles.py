"""Reading env files and units as systemd does (pure functions of `loopnode.check.unitfiles`)."""
from __future__ import annotations

import io
from pathlib import Path

from loopnode.check.command import build_parser, run_checks
from loopnode.check.local import check_unit
from loopnode.check.unitfiles import expand_variables, parse_env_file, parse_service_unit, referenced_variables


def test_env_file_assignments_comments_quotes_and_continuations() -> None:
    values, errors = parse_env_file(
        '# comment\n; also a comment\n\nA=1\n  B = two words  \nC="quoted \\"x\\" $y"\n'
        "D='single'\nE=con\\\ntinued\nEMPTY=\n")
    assert values == {'A': '1', 'B': 'two words', 'C': 'quoted "x" $y', 'D': 'single', 'E': 'continued',
                      'EMPTY': ''}
    assert errors == []


def test_env_file_lines_systemd_would_ignore_are_reported_with_their_number() -> None:
    values, errors = parse_env_file('A=1\nexport B=2\njust words\n3X=4\n')
    assert values == {'A': '1'}
    assert [(e.line, e.text) for e in errors] == [(2, 'export B=2'), (3, 'just words'), (4, '3X=4')]
    assert str(errors[0]) == "line 2: 'export B=2' is not NAME=VALUE (systemd ignores it)"


def test_unit_service_section() -> None:
    unit = parse_service_unit('[Unit]\nDescription=x\nUser=notthis\n[Service]\nUser=loopnode\n'
                              'Environment=DATA_FOLDER=/var/lib/loopnode/detector\n'
                              'Environment="A=1 2" B=3\nEnvironmentFile=-/etc/loopnode/detector.env\n'
                              'ExecStart=-/opt/loopnode/venv/bin/loopnode detector --logic ${LOOPNODE_LOGIC}\n'
                              'StateDirectory=loopnode\nReadWritePaths=/var/lib/loopnode -/srv/data\n'
                              'SupplementaryGroups=video\nSupplementaryGroups=\nProtectSystem=strict\n'
                              '[Install]\nWantedBy=multi-user.target\n')
    assert unit.user == 'loopnode'
    assert unit.environment == {'DATA_FOLDER': '/var/lib/loopnode/detector', 'A': '1 2', 'B': '3'}
    assert unit.environment_files == ('-/etc/loopnode/detector.env',)
    assert unit.executable == '/opt/loopnode/venv/bin/loopnode'
    assert unit.supplementary_groups == ()  # an empty assignment resets the list
    assert unit.writable_roots() == ('/var/lib/loopnode', '/srv/data')  # each once
    assert unit.protect_system == 'strict'


def test_exec_start_variables() -> None:
    command = '/venv/bin/loopnode detector --logic ${LOOPNODE_LOGIC} $EXTRA'
    assert referenced_variables(command) == ['LOOPNODE_LOGIC', 'EXTRA']
    assert expand_variables(command, {'LOOPNODE_LOGIC': 'a.b:C'}) == '/venv/bin/loopnode detector --logic a.b:C '


def test_unit_with_an_unbalanced_quote_is_read_as_systemd_does() -> None:
    """`Environment="A=1` (no closing quote): systemd ignores the assignment; ExecStart= with one is no command."""
    unit = parse_service_unit('[Service]\nEnvironment="A=1\nEnvironment=B=2\nExecStart=/usr/bin/loopnode "detector\n')
    assert unit.environment == {'B': '2'}
    assert unit.executable is None
    assert 'is not a command line' in check_unit(Path('loopnode-detector.service'), unit, {}).render()


def test_env_file_that_is_not_utf8_is_a_check_line(tmp_path: Path) -> None:
    """A Latin-1 env file (e.g. a password with ä) is one ✖ line and exit 78, not a traceback."""
    env = tmp_path / 'detector.env'
    env.write_bytes('LOOP_HOST=127.0.0.1:9\nLOOP_PASSWORD=geheim\xe4\n'.encode('latin-1'))
    out = io.StringIO()
    assert run_checks(build_parser().parse_args(['--env', str(env), '--no-unit', 'detector']), out) == 78
    assert f'env file {env}: cannot read it: not UTF-8' in out.getvalue()
