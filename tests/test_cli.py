"""The `loopnode` command: usage errors exit 2, configuration errors 78 with one line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopnode.cli import load_object


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith(('LOOP_', 'NODE_'))}
    values.update(env)
    return subprocess.run([sys.executable, '-m', 'loopnode', *args], env=values, capture_output=True, text=True,
                          timeout=60)


def test_invalid_setting_exits_78_with_one_line(tmp_path: Path) -> None:
    result = run_cli('detector', '--logic', 'loopnode.detector:MockDetectorFactory', LOOP_POLL_INTERVAL='abc',
                     DATA_FOLDER=str(tmp_path), LOOP_ORGANIZATION='o', LOOP_PROJECT='p')
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("invalid setting LOOP_POLL_INTERVAL='abc': expected a number > 0")


def test_unknown_command_and_missing_arguments_exit_2() -> None:
    assert run_cli('bogus').returncode == 2
    assert run_cli().returncode == 2
    assert run_cli('detector', '--port', 'x').returncode == 2


def test_bad_logic_reference_exits_2(tmp_path: Path) -> None:
    result = run_cli('detector', '--logic', 'no_such_module_xyz:thing', DATA_FOLDER=str(tmp_path),
                     LOOP_ORGANIZATION='o', LOOP_PROJECT='p')
    assert result.returncode == 2 and 'cannot import' in result.stderr


def test_load_object_calls_classes_and_functions_but_not_instances() -> None:
    assert isinstance(load_object('collections:OrderedDict'), dict)
    import json
    assert isinstance(load_object('json:decoder.JSONDecoder'), json.JSONDecoder)
    assert load_object('json:decoder') is json.decoder
    with pytest.raises(ValueError, match='pkg.module:name'):
        load_object('justamodule')
    with pytest.raises(ValueError, match='has no attribute'):
        load_object('json:nothing_here')


def test_logic_that_needs_arguments_exits_2(tmp_path: Path) -> None:
    """`--logic mod:func` with required parameters is a usage error with one line, not a traceback."""
    with pytest.raises(ValueError, match='callable without arguments'):
        load_object('json:dumps')
    result = run_cli('detector', '--logic', 'json:dumps', DATA_FOLDER=str(tmp_path),
                     LOOP_ORGANIZATION='o', LOOP_PROJECT='p')
    assert result.returncode == 2 and 'callable without arguments' in result.stderr
    assert 'Traceback' not in result.stderr


def test_public_api_names() -> None:
    """`from loopnode import ...` gives the detector API, the errors and the wire records."""
    import loopnode
    from loopnode import DetectorNode, ImageMetadata, MockDetectorFactory, NodeNeedsRestartError  # noqa: F401
    assert set(loopnode.__all__) >= {'DetectorNode', 'DetectorLogic', 'ImageMetadata', 'BoxDetection', 'Settings'}
    with pytest.raises(AttributeError):
        loopnode.NoSuchThing  # noqa: B018


def test_help_names_each_node_with_the_right_article() -> None:
    result = run_cli('--help')
    assert result.returncode == 0
    assert 'run an annotator node' in result.stdout and 'run a annotator' not in result.stdout
    assert 'run a detector node' in result.stdout and 'run a converter node' in result.stdout
