"""Settings: names, aliases, defaults, strict parsing and the start-up checks (loop-protocol.md §2)."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from loopnode.errors import ConfigError
from loopnode.settings import DevLoopSettings, Settings


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    base = {'DATA_FOLDER': str(tmp_path / 'data'), 'LOOP_ORGANIZATION': 'zauberzeug', 'LOOP_PROJECT': 'demo'}
    base.update(values)
    return base


def test_defaults(tmp_path: Path) -> None:
    """Every default of the §2.2 table."""
    s = Settings.from_env(env(tmp_path))
    assert s.loop_host == 'learning-loop.ai' and s.loop_base_url == 'https://learning-loop.ai'
    assert (s.node_host, s.node_port, s.node_api_token) == ('127.0.0.1', 8004, None)
    assert (s.loop_poll_interval, s.sync_cycles, s.version_control_default) == (5.0, 6, 'follow_loop')
    assert (s.exclusive_model_build, s.keep_models, s.max_outbox_size, s.outbox_min_free_mb) == (False, 3, 1000, 200)
    assert (s.min_uncertain_threshold, s.max_uncertain_threshold) == (0.3, 0.6)
    assert (s.inference_batch_size, s.trainer_idle_timeout_sec, s.converter_poll_interval) == (10, 0.0, 60.0)
    assert s.max_image_pixels == 50_000_000 and s.log_level == 'INFO' and not s.has_credentials
    assert (tmp_path / 'data').is_dir()


def test_alias_used_when_only_bare_name_set(tmp_path: Path) -> None:
    s = Settings.from_env({'DATA_FOLDER': str(tmp_path), 'ORGANIZATION': 'o', 'PROJECT': 'p', 'HOST': 'localhost:8000'})
    assert (s.loop_organization, s.loop_project, s.loop_base_url) == ('o', 'p', 'http://localhost:8000')


def test_alias_conflict_loop_name_wins_with_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = Settings.from_env(env(tmp_path, LOOP_HOST='a.example:1', HOST='b.example:2'))
    assert s.loop_host == 'a.example:1'
    with caplog.at_level(logging.WARNING):
        s.log_warnings()
    assert "LOOP_HOST and HOST are both set and differ; using LOOP_HOST='a.example:1'" in caplog.text


def test_password_never_in_warning_or_repr(tmp_path: Path) -> None:
    s = Settings.from_env(env(tmp_path, LOOP_PASSWORD='secret1', PASSWORD='secret2', LOOP_USERNAME='u'))
    assert s.loop_password == 'secret1' and s.has_credentials
    assert 'secret' not in ' '.join(s.warnings) and 'secret' not in repr(s)


def test_username_alone_does_not_log_in(tmp_path: Path) -> None:
    """The USERNAME trap: a shell's USERNAME alone never triggers a login."""
    assert not Settings.from_env(env(tmp_path, USERNAME='root')).has_credentials


def test_empty_counts_as_unset(tmp_path: Path) -> None:
    s = Settings.from_env(env(tmp_path, NODE_PORT='', LOOP_HOST=''))
    assert s.node_port == 8004 and s.loop_host == 'learning-loop.ai'


@pytest.mark.parametrize('word,value', [('1', True), ('TRUE', True), ('Yes', True), ('on', True),
                                        ('0', False), ('false', False), ('NO', False), ('Off', False)])
def test_booleans(tmp_path: Path, word: str, value: bool) -> None:
    assert Settings.from_env(env(tmp_path, EXCLUSIVE_MODEL_BUILD=word)).exclusive_model_build is value


@pytest.mark.parametrize('name,value,expected', [
    ('LOOP_POLL_INTERVAL', 'abc', "invalid setting LOOP_POLL_INTERVAL='abc': expected a number > 0"),
    ('LOOP_POLL_INTERVAL', '0', "invalid setting LOOP_POLL_INTERVAL='0': expected a number > 0"),
    ('NODE_PORT', '70000', "invalid setting NODE_PORT='70000': expected an integer in [0, 65535]"),
    ('SYNC_CYCLES', '1.5', "invalid setting SYNC_CYCLES='1.5': expected an integer >= 1"),
    ('USE_BACKDOOR_CONTROLS', 'maybe', "invalid setting USE_BACKDOOR_CONTROLS='maybe': expected a boolean"),
    ('MIN_UNCERTAIN_THRESHOLD', '1.5', "invalid setting MIN_UNCERTAIN_THRESHOLD='1.5': expected a number in [0, 1]"),
    ('KEEP_MODELS', '-1', "invalid setting KEEP_MODELS='-1': expected an integer >= 0"),
    ('LOG_LEVEL', 'LOUD', "invalid setting LOG_LEVEL='LOUD'"),
    ('LOOP_HOST', 'http://loop/path', "invalid setting LOOP_HOST='http://loop/path'"),
    ('LOOP_HOST', 'ftp://loop', "invalid setting LOOP_HOST='ftp://loop'"),
    ('OUTBOX_CAP_POLICY', 'random', "invalid setting OUTBOX_CAP_POLICY='random': expected one of thin, drop_oldest"),
])
def test_invalid_values_name_the_variable(tmp_path: Path, name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        Settings.from_env(env(tmp_path, **{name: value}))
    assert str(e.value).startswith(expected)
    assert '\n' not in str(e.value)


def test_thresholds_must_be_ordered(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='MIN_UNCERTAIN_THRESHOLD'):
        Settings.from_env(env(tmp_path, MIN_UNCERTAIN_THRESHOLD='0.7', MAX_UNCERTAIN_THRESHOLD='0.6'))


def test_detector_needs_organization_and_project(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='LOOP_ORGANIZATION'):
        Settings.from_env({'DATA_FOLDER': str(tmp_path)}, node_type='detector')
    assert Settings.from_env({'DATA_FOLDER': str(tmp_path)}, node_type='trainer').loop_organization is None


def test_cert_path_must_be_readable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='LOOP_SSL_CERT_PATH'):
        Settings.from_env(env(tmp_path, LOOP_SSL_CERT_PATH=str(tmp_path / 'missing.pem')))
    ca = tmp_path / 'ca.pem'
    ca.write_text('x')
    assert Settings.from_env(env(tmp_path, LOOP_SSL_CERT_PATH=str(ca))).loop_ssl_cert_path == str(ca)


def test_training_slot_lock_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='mount the directory from the host'):
        Settings.from_env(env(tmp_path, TRAINING_SLOT_LOCK=str(tmp_path / 'nope' / 'slot.lock')), node_type='trainer')


def test_data_folder_must_be_creatable(tmp_path: Path) -> None:
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    with pytest.raises(ConfigError, match='DATA_FOLDER'):
        Settings.from_env(env(tmp_path, DATA_FOLDER=str(blocker / 'sub')))


def test_version_control_default_falls_back_with_warning(tmp_path: Path) -> None:
    s = Settings.from_env(env(tmp_path, VERSION_CONTROL_DEFAULT='PAUSE'))
    assert s.version_control_default == 'pause'
    s = Settings.from_env(env(tmp_path, VERSION_CONTROL_DEFAULT='sometimes'))
    assert s.version_control_default == 'follow_loop' and any('VERSION_CONTROL_DEFAULT' in w for w in s.warnings)


def test_systemd_variables(tmp_path: Path) -> None:
    s = Settings.from_env(env(tmp_path, NOTIFY_SOCKET='/run/x', WATCHDOG_USEC='2000000', JOURNAL_STREAM='8:1'))
    assert (s.notify_socket, s.watchdog_usec, s.journal_stream) == ('/run/x', 2_000_000, True)


def test_devloop_settings() -> None:
    s = DevLoopSettings.from_env({'DEVLOOP_PORT': '9000', 'DEVLOOP_AUTH': 'Strict', 'DEVLOOP_USERS': 'a:b'})
    assert (s.host, s.port, s.auth, s.users) == ('127.0.0.1', 9000, 'strict', 'a:b')
    with pytest.raises(ConfigError, match='DEVLOOP_AUTH'):
        DevLoopSettings.from_env({'DEVLOOP_AUTH': 'none'})


def test_outbox_cap_policy(tmp_path: Path) -> None:
    """Issue 18: OUTBOX_CAP_POLICY defaults to thin; drop_oldest (any case) is accepted."""
    assert Settings.from_env(env(tmp_path)).outbox_cap_policy == 'thin'
    assert Settings.from_env(env(tmp_path, OUTBOX_CAP_POLICY=' Drop_Oldest ')).outbox_cap_policy == 'drop_oldest'


def test_environ_is_what_an_executor_child_inherits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """trainer.md §7: children get the node's environment; Settings keeps it (the only reader of os.environ)."""
    monkeypatch.setenv('LOOPNODE_TEST_MARK', 'process')
    monkeypatch.setenv('LOOPNODE_TEST_ONLY_PROCESS', 'yes')
    s = Settings.from_env(env(tmp_path, LOOPNODE_TEST_MARK='settings', VRAM_LIMIT_GB='4', LOOP_PASSWORD='secret'))
    assert s.environ['LOOPNODE_TEST_MARK'] == 'settings' and s.environ['VRAM_LIMIT_GB'] == '4'
    assert s.environ['LOOPNODE_TEST_ONLY_PROCESS'] == 'yes' and 'PATH' in s.environ
    monkeypatch.setenv('LOOPNODE_TEST_MARK', 'later')
    assert s.environ['LOOPNODE_TEST_MARK'] == 'settings'  # a snapshot
    with pytest.raises(TypeError):
        s.environ['X'] = '1'  # type: ignore[index]
    assert 'secret' not in repr(s) and Settings.from_env(env(tmp_path)).environ['LOOPNODE_TEST_MARK'] == 'later'
