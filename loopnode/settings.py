"""One immutable Settings object built once from the environment (loop-protocol.md §2).

This is the only module that reads `os.environ`. Every variable of the spec is parsed strictly here; a bad
value raises `ConfigError`, which the CLI turns into one log line and exit code 78. `Settings.problems_in_env`
runs the same parsing but collects every error instead (for `loopnode check`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Iterator, Mapping, TypeVar

from .errors import ConfigError
from .loop.urls import DEFAULT_LOOP_HOST, loop_base_url

log = logging.getLogger(__name__)

T = TypeVar('T')

TRUE_WORDS = frozenset({'1', 'true', 'yes', 'on'})
FALSE_WORDS = frozenset({'0', 'false', 'no', 'off'})
LOG_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR')
NODE_TYPES = ('detector', 'trainer', 'annotator', 'converter')
OUTBOX_CAP_POLICIES = ('thin', 'drop_oldest')  # Addition: how MAX_OUTBOX_SIZE trims autoupload items (docs/outbox.md)


def process_environ() -> dict[str, str]:
    """A copy of this process's environment: what an Executor made outside a node gives its child."""
    return dict(os.environ)


class EnvReader:
    """Reads typed values from an environment mapping; empty strings count as unset.

    A bad value raises ConfigError, or with `collect=True` is recorded in `errors` and replaced by its default.
    """

    def __init__(self, environ: Mapping[str, str], *, collect: bool = False) -> None:
        self.environ = environ
        self.warnings: list[str] = []
        self.errors: list[ConfigError] | None = [] if collect else None

    def fail(self, error: ConfigError, fallback: T) -> T:
        """Raise `error`, or in collect mode record it and go on with `fallback`."""
        if self.errors is None:
            raise error
        self.errors.append(error)
        return fallback

    def raw(self, name: str, alias: str | None = None) -> str | None:
        """The value of `name` (or its bare alias); when both are set and differ, `name` wins with a warning."""
        value = self.environ.get(name) or None
        if alias is None:
            return value
        alias_value = self.environ.get(alias) or None
        if value is not None and alias_value is not None and value != alias_value:
            shown = '***' if 'PASSWORD' in name else repr(value)
            self.warnings.append(f'{name} and {alias} are both set and differ; using {name}={shown}')
        return value if value is not None else alias_value

    def string(self, name: str, default: str | None = None, alias: str | None = None) -> str | None:
        value = self.raw(name, alias)
        return default if value is None else value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        return self.fail(ConfigError(name, value, 'a boolean: 1/true/yes/on or 0/false/no/off'), default)

    def number(self, name: str, default: T, kind: Callable[[str], T], *, minimum: float | None = None,
               maximum: float | None = None, exclusive_minimum: bool = False) -> T:
        value = self.raw(name)
        if value is None:
            return default
        expected = _range_text(kind, minimum, maximum, exclusive_minimum)
        try:
            number = kind(value.strip())
        except ValueError:
            return self.fail(ConfigError(name, value, expected), default)
        if number != number or number in (float('inf'), float('-inf')):  # type: ignore[comparison-overlap]
            return self.fail(ConfigError(name, value, expected), default)
        if minimum is not None and (number < minimum or (exclusive_minimum and number == minimum)):  # type: ignore[operator]
            return self.fail(ConfigError(name, value, expected), default)
        if maximum is not None and number > maximum:  # type: ignore[operator]
            return self.fail(ConfigError(name, value, expected), default)
        return number


def _range_text(kind: Callable[[str], object], minimum: float | None, maximum: float | None,
                exclusive_minimum: bool) -> str:
    noun = 'an integer' if kind is int else 'a number'
    if minimum is not None and maximum is not None:
        return f'{noun} in [{_number_text(minimum)}, {_number_text(maximum)}]'
    if minimum is not None:
        return f'{noun} {">" if exclusive_minimum else ">="} {_number_text(minimum)}'
    return noun


def _number_text(x: float) -> str:
    """`1000000`, not `1e+06`; `0.5` as is."""
    return str(int(x)) if float(x).is_integer() else f'{x:g}'


@dataclass(frozen=True)
class Settings:
    """Every node setting of loop-protocol.md §2.2 (plus the systemd integration variables)."""

    node_type: str = 'detector'
    loop_host: str = DEFAULT_LOOP_HOST
    loop_base_url: str = 'https://learning-loop.ai'
    loop_username: str | None = None
    loop_password: str | None = field(default=None, repr=False)
    loop_organization: str | None = None
    loop_project: str | None = None
    loop_ssl_cert_path: str | None = None
    data_folder: Path = Path('/data')
    node_name: str | None = None
    node_host: str = '127.0.0.1'
    node_port: int = 8004
    node_api_token: str | None = field(default=None, repr=False)
    node_version: str | None = None
    log_level: str = 'INFO'
    loop_poll_interval: float = 5.0
    sync_cycles: int = 6
    version_control_default: str = 'follow_loop'
    exclusive_model_build: bool = False
    keep_models: int = 3
    max_outbox_size: int = 1000
    outbox_min_free_mb: int = 200
    outbox_cap_policy: str = 'thin'
    min_uncertain_threshold: float = 0.3
    max_uncertain_threshold: float = 0.6
    max_image_pixels: int = 50_000_000
    skip_repeat_on_start: bool = False
    use_backdoor_controls: bool = False
    inference_batch_size: int = 10
    restart_after_training: bool = False
    keep_old_trainings: bool = False
    trainer_idle_timeout_sec: float = 0.0
    training_slot_lock: str | None = None
    converter_poll_interval: float = 60.0
    shutdown_grace: float = 10.0
    http_max_connections: int = 256
    http_keepalive_timeout: float = 5.0
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_max_request_line: int = 8192
    http_max_headers: int = 100
    http_max_header_bytes: int = 16384
    http_backlog: int = 1024
    http_spool_budget_mb: int = 256
    notify_socket: str | None = None
    watchdog_usec: int | None = None
    journal_stream: bool = False
    warnings: tuple[str, ...] = ()
    environ: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    """What an executor's child inherits: this process's environment at load time with the variables these
    settings were parsed from on top (the same unless `from_env` was given a mapping, as tests and the demo do);
    None (a Settings not made by `from_env`): the process environment at the child's start."""

    @property
    def has_credentials(self) -> bool:
        """Login happens only when both username and password are set (a stray USERNAME never logs in)."""
        return bool(self.loop_username and self.loop_password)

    @property
    def tmp_folder(self) -> Path:
        return self.data_folder / 'tmp'

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, node_type: str = 'detector', *,
                 check_data_folder: bool = True) -> 'Settings':
        """Parse and check every variable; raises ConfigError naming the first bad one."""
        settings = cls._parse(EnvReader(os.environ if environ is None else environ), node_type)
        settings.check(check_data_folder=check_data_folder)
        return settings

    @classmethod
    def problems_in_env(cls, environ: Mapping[str, str] | None = None,
                        node_type: str = 'detector') -> tuple['Settings', list[ConfigError]]:
        """Every error `from_env` could raise, at once; bad values fall back to their defaults.

        Creates nothing: the data folder is left to the caller (`loopnode check` tests it without creating it).
        """
        env = EnvReader(os.environ if environ is None else environ, collect=True)
        settings = cls._parse(env, node_type)
        return settings, [*(env.errors or []), *settings._problems(check_data_folder=False)]

    @classmethod
    def _parse(cls, env: EnvReader, node_type: str) -> 'Settings':
        host = env.string('LOOP_HOST', DEFAULT_LOOP_HOST, alias='HOST') or DEFAULT_LOOP_HOST
        try:
            base_url = loop_base_url(host)
            host_error = None
        except ValueError as e:
            host_error = ConfigError('LOOP_HOST', host, f'host[:port] or http(s)://host[:port] ({e})')
        if host_error is not None:
            base_url = env.fail(host_error, loop_base_url(DEFAULT_LOOP_HOST))
        version_default = (env.string('VERSION_CONTROL_DEFAULT', 'follow_loop') or 'follow_loop').strip().lower()
        if version_default not in ('follow_loop', 'pause'):
            env.warnings.append(f'VERSION_CONTROL_DEFAULT={version_default!r} is not follow_loop or pause; '
                                'using follow_loop')
            version_default = 'follow_loop'
        log_level = (env.string('LOG_LEVEL', 'INFO') or 'INFO').strip().upper()
        if log_level not in LOG_LEVELS:
            log_level = env.fail(ConfigError('LOG_LEVEL', log_level, 'one of ' + ', '.join(LOG_LEVELS)), 'INFO')
        watchdog_usec = env.number('WATCHDOG_USEC', 0, int, minimum=0)
        cap_policy = (env.string('OUTBOX_CAP_POLICY', 'thin') or 'thin').strip().lower()
        if cap_policy not in OUTBOX_CAP_POLICIES:
            cap_policy = env.fail(ConfigError('OUTBOX_CAP_POLICY', cap_policy,
                                              'one of ' + ', '.join(OUTBOX_CAP_POLICIES)), 'thin')
        return cls(
            node_type=node_type,
            loop_host=host,
            loop_base_url=base_url,
            loop_username=env.string('LOOP_USERNAME', alias='USERNAME'),
            loop_password=env.string('LOOP_PASSWORD', alias='PASSWORD'),
            loop_organization=env.string('LOOP_ORGANIZATION', alias='ORGANIZATION'),
            loop_project=env.string('LOOP_PROJECT', alias='PROJECT'),
            loop_ssl_cert_path=env.string('LOOP_SSL_CERT_PATH'),
            data_folder=Path(env.string('DATA_FOLDER', '/data') or '/data').expanduser().absolute(),
            node_name=env.string('NODE_NAME'),
            node_host=env.string('NODE_HOST', '127.0.0.1') or '127.0.0.1',
            node_port=env.number('NODE_PORT', 8004, int, minimum=0, maximum=65535),
            node_api_token=env.string('NODE_API_TOKEN'),
            node_version=env.string('NODE_VERSION'),
            log_level=log_level,
            loop_poll_interval=env.number('LOOP_POLL_INTERVAL', 5.0, float, minimum=0, exclusive_minimum=True),
            sync_cycles=env.number('SYNC_CYCLES', 6, int, minimum=1),
            version_control_default=version_default,
            exclusive_model_build=env.boolean('EXCLUSIVE_MODEL_BUILD', False),
            keep_models=env.number('KEEP_MODELS', 3, int, minimum=0),
            max_outbox_size=env.number('MAX_OUTBOX_SIZE', 1000, int, minimum=1),
            outbox_min_free_mb=env.number('OUTBOX_MIN_FREE_MB', 200, int, minimum=0),
            outbox_cap_policy=cap_policy,
            min_uncertain_threshold=env.number('MIN_UNCERTAIN_THRESHOLD', 0.3, float, minimum=0, maximum=1),
            max_uncertain_threshold=env.number('MAX_UNCERTAIN_THRESHOLD', 0.6, float, minimum=0, maximum=1),
            max_image_pixels=env.number('MAX_IMAGE_PIXELS', 50_000_000, int, minimum=1),
            skip_repeat_on_start=env.boolean('SKIP_REPEAT_ON_START', False),
            use_backdoor_controls=env.boolean('USE_BACKDOOR_CONTROLS', False),
            inference_batch_size=env.number('INFERENCE_BATCH_SIZE', 10, int, minimum=1),
            restart_after_training=env.boolean('RESTART_AFTER_TRAINING', False),
            keep_old_trainings=env.boolean('KEEP_OLD_TRAININGS', False),
            trainer_idle_timeout_sec=env.number('TRAINER_IDLE_TIMEOUT_SEC', 0.0, float, minimum=0),
            training_slot_lock=env.string('TRAINING_SLOT_LOCK'),
            converter_poll_interval=env.number('CONVERTER_POLL_INTERVAL', 60.0, float, minimum=0,
                                               exclusive_minimum=True),
            shutdown_grace=env.number('SHUTDOWN_GRACE_SEC', 10.0, float, minimum=0),
            http_max_connections=env.number('HTTP_MAX_CONNECTIONS', 256, int, minimum=1, maximum=10000),
            http_keepalive_timeout=env.number('HTTP_KEEPALIVE_TIMEOUT_SEC', 5.0, float, minimum=0,
                                              exclusive_minimum=True),
            http_header_timeout=env.number('HTTP_HEADER_TIMEOUT_SEC', 10.0, float, minimum=0, exclusive_minimum=True),
            http_body_timeout=env.number('HTTP_BODY_TIMEOUT_SEC', 30.0, float, minimum=0, exclusive_minimum=True),
            http_max_request_line=env.number('HTTP_MAX_REQUEST_LINE', 8192, int, minimum=256, maximum=1_000_000),
            http_max_headers=env.number('HTTP_MAX_HEADERS', 100, int, minimum=8, maximum=10000),
            http_max_header_bytes=env.number('HTTP_MAX_HEADER_BYTES', 16384, int, minimum=1024, maximum=1_000_000),
            http_backlog=env.number('HTTP_BACKLOG', 1024, int, minimum=1024, maximum=65535),
            http_spool_budget_mb=env.number('HTTP_SPOOL_BUDGET_MB', 256, int, minimum=64, maximum=1_000_000),
            notify_socket=env.string('NOTIFY_SOCKET'),
            watchdog_usec=watchdog_usec or None,
            journal_stream=env.string('JOURNAL_STREAM') is not None,
            warnings=tuple(env.warnings),
            environ=MappingProxyType({**os.environ, **env.environ}),
        )

    def check(self, *, check_data_folder: bool = True) -> None:
        """Start-up checks of loop-protocol.md §2.3 (files and folders included); raises the first failure."""
        for problem in self._problems(check_data_folder=check_data_folder):
            raise problem

    def _problems(self, *, check_data_folder: bool) -> Iterator[ConfigError]:
        """The failed start-up checks, lazily: `check` stops at the first (the data folder is created last)."""
        if self.node_type == 'detector':
            if not self.loop_organization:
                yield ConfigError('LOOP_ORGANIZATION', self.loop_organization or '', 'an organization id (required)')
            if not self.loop_project:
                yield ConfigError('LOOP_PROJECT', self.loop_project or '', 'a project id (required)')
        if self.min_uncertain_threshold > self.max_uncertain_threshold:
            yield ConfigError('MIN_UNCERTAIN_THRESHOLD', str(self.min_uncertain_threshold),
                              f'a number <= MAX_UNCERTAIN_THRESHOLD ({self.max_uncertain_threshold:g})')
        if self.loop_ssl_cert_path and (not os.access(self.loop_ssl_cert_path, os.R_OK)
                                        or not Path(self.loop_ssl_cert_path).is_file()):
            yield ConfigError('LOOP_SSL_CERT_PATH', self.loop_ssl_cert_path, 'a readable CA bundle file')
        if self.training_slot_lock and not Path(self.training_slot_lock).parent.is_dir():
            yield ConfigError('TRAINING_SLOT_LOCK', self.training_slot_lock,
                              'a file in an existing directory (mount the directory from the host)')
        if check_data_folder:
            try:
                self.data_folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                yield ConfigError('DATA_FOLDER', str(self.data_folder), f'a folder that can be created ({e})')
                return
            if not os.access(self.data_folder, os.W_OK | os.X_OK):
                yield ConfigError('DATA_FOLDER', str(self.data_folder), 'a writable folder')

    def log_warnings(self) -> None:
        """Log the alias and fallback warnings collected while parsing."""
        for warning in self.warnings:
            log.warning(warning)


@dataclass(frozen=True)
class DevLoopSettings:
    """Settings of devloop, the Loop emulator (loop-protocol.md §11.1); CLI flags override them."""

    host: str = '127.0.0.1'
    port: int = 8000
    data: Path = Path('devloop-data')
    auth: str = 'open'
    users: str = 'admin:admin'
    seed: str = 'demo'
    log_level: str = 'INFO'

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> 'DevLoopSettings':
        env = EnvReader(os.environ if environ is None else environ)
        auth = (env.string('DEVLOOP_AUTH', 'open') or 'open').strip().lower()
        if auth not in ('open', 'login', 'strict'):
            raise ConfigError('DEVLOOP_AUTH', auth, 'open, login or strict')
        log_level = (env.string('LOG_LEVEL', 'INFO') or 'INFO').strip().upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError('LOG_LEVEL', log_level, 'one of ' + ', '.join(LOG_LEVELS))
        return cls(
            host=env.string('DEVLOOP_HOST', '127.0.0.1') or '127.0.0.1',
            port=env.number('DEVLOOP_PORT', 8000, int, minimum=0, maximum=65535),
            data=Path(env.string('DEVLOOP_DATA', 'devloop-data') or 'devloop-data'),
            auth=auth,
            users=env.string('DEVLOOP_USERS', 'admin:admin') or 'admin:admin',
            log_level=log_level,
        )
