"""`Settings.problems_in_env`: every error `from_env` can raise, at once, and nothing created."""
from __future__ import annotations

from pathlib import Path

import pytest

from loopnode.errors import ConfigError
from loopnode.settings import Settings

GOOD = {'LOOP_ORGANIZATION': 'zauberzeug', 'LOOP_PROJECT': 'demo'}


def test_collects_every_error_in_parsing_order_then_the_start_up_checks(tmp_path: Path) -> None:
    environ = {'LOOP_HOST': 'http://x/path', 'LOG_LEVEL': 'loud', 'NODE_PORT': '80a', 'KEEP_MODELS': '-1',
               'MIN_UNCERTAIN_THRESHOLD': '0.9', 'SKIP_REPEAT_ON_START': 'maybe', 'LOOP_PROJECT': 'demo',
               'LOOP_SSL_CERT_PATH': str(tmp_path / 'missing.pem'), 'DATA_FOLDER': str(tmp_path / 'new')}
    settings, problems = Settings.problems_in_env(environ, 'detector')
    assert [p.name for p in problems] == ['LOOP_HOST', 'LOG_LEVEL', 'NODE_PORT', 'KEEP_MODELS',
                                          'SKIP_REPEAT_ON_START', 'LOOP_ORGANIZATION', 'MIN_UNCERTAIN_THRESHOLD',
                                          'LOOP_SSL_CERT_PATH']
    assert settings.node_port == 8004 and settings.log_level == 'INFO'  # bad values fell back to defaults
    assert not (tmp_path / 'new').exists()


def test_from_env_still_raises_the_first_error_with_the_same_text() -> None:
    environ = {**GOOD, 'NODE_PORT': '80a', 'KEEP_MODELS': '-1'}
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(environ, check_data_folder=False)
    _, problems = Settings.problems_in_env(environ)
    assert str(raised.value) == str(problems[0]) == "invalid setting NODE_PORT='80a': expected an integer in [0, 65535]"


def test_good_environment_has_no_problems() -> None:
    settings, problems = Settings.problems_in_env(GOOD)
    assert problems == [] and settings.loop_project == 'demo'
