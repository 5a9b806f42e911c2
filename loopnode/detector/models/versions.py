"""Pure version-control rules of the detector (detector.md §7.1-§7.3, §7.6): no I/O, no threads.

`VersionControl` holds the version mode, the target, the Loop's target and the failure bookkeeping of the
current target (backoff, artifact failures, skipping). The model manager owns one instance and calls it
under its own lock; time comes from an injectable clock so tests need no sleeping.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Iterable

from ...backoff import exponential_delay

VERSION_PATTERN = re.compile(r'^[0-9]+(\.[0-9]+)*$')
MAX_ARTIFACT_FAILURES = 3
BACKOFF_BASE = 5.0
BACKOFF_CAP = 300.0

FOLLOW_LOOP = 'follow_loop'
SPECIFIC_VERSION = 'specific_version'
PAUSE = 'pause'
VERSION_MODES = (FOLLOW_LOOP, SPECIFIC_VERSION, PAUSE)


class FailureKind(str, Enum):
    """Transport failures are retried forever; artifact failures count toward skipping (§7.6)."""

    TRANSPORT = 'transport'
    ARTIFACT = 'artifact'


@dataclass(frozen=True)
class Target:
    """A model version to run: the Loop's model uuid, its version and (from `GET P/models`) its host."""

    id: str
    version: str
    host: str | None = None


def is_valid_version(text: str) -> bool:
    """True for version strings such as `1`, `1.1` or `2.10.3` (§6)."""
    return bool(VERSION_PATTERN.fullmatch(text))


def version_key(version: str) -> tuple[int, ...]:
    """Numeric sort key of a valid version (`1.10` sorts after `1.9`)."""
    return tuple(int(part) for part in version.split('.'))


def sort_versions(names: Iterable[str]) -> list[str]:
    """The valid version names among `names`, sorted by numeric components; other names are dropped."""
    return sorted((n for n in set(names) if is_valid_version(n)), key=version_key)


def retry_delay(failures: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Wait before attempt k+1 after k failures of one target: min(base * 2^(k-1), cap); 0 without failures."""
    return exponential_delay(failures, base, cap)


def versions_to_prune(activated: dict[str, float], keep: int, protected: Iterable[str | None]) -> list[str]:
    """Versions to delete (§7.7): keep `protected` (active, target), then the most recently activated others
    (`activated` maps version → folder mtime) until `keep` remain; `keep == 0` keeps everything."""
    if keep <= 0:
        return []
    kept = {v for v in protected if v is not None and v in activated}
    others = sorted((v for v in activated if v not in kept), key=lambda v: (activated[v], version_key(v)),
                    reverse=True)
    room = max(0, keep - len(kept))
    return sort_versions(others[room:])


def parse_version_request(text: str) -> tuple[str, str | None]:
    """The body of `PUT /model_version` as (mode, version); quotes and whitespace are ignored.

    Raises ValueError('Invalid version number') for anything that is neither a mode nor a valid version.
    """
    word = text.strip()
    if len(word) >= 2 and word[0] == word[-1] and word[0] in '"\'':
        word = word[1:-1].strip()
    if word in (FOLLOW_LOOP, PAUSE):
        return word, None
    if is_valid_version(word):
        return SPECIFIC_VERSION, word
    raise ValueError('Invalid version number')


def update_error_text(cause: str) -> str:
    """The status error `update_model` for a failed update (§7.6)."""
    return f'Could not update model: {cause}'


def skipped_error_text(version: str) -> str:
    """The status error `update_model` once a version is skipped (§7.6)."""
    return update_error_text(f'version {version} failed {MAX_ARTIFACT_FAILURES} times; waiting for a new target')


@dataclass
class _FailureRecord:
    """Failures of one version: all kinds drive the backoff, artifact failures drive skipping."""

    failures: int = 0
    artifact_failures: int = 0
    retry_at: float = 0.0


class VersionControl:
    """Version mode, target and failure bookkeeping; every method is pure state manipulation."""

    def __init__(self, default_mode: str = FOLLOW_LOOP, *, clock: Callable[[], float] = time.monotonic,
                 backoff_base: float = BACKOFF_BASE, backoff_cap: float = BACKOFF_CAP) -> None:
        if default_mode not in (FOLLOW_LOOP, PAUSE):
            raise ValueError(f'default version mode must be follow_loop or pause, not {default_mode!r}')
        self.default_mode = default_mode
        self.mode = default_mode
        self.target: Target | None = None
        self.loop_target: Target | None = None
        self.error: str | None = None
        self._clock = clock
        self._base = backoff_base
        self._cap = backoff_cap
        self._records: dict[str, _FailureRecord] = {}

    # ---- target changes -------------------------------------------------------------------------------

    def _set_target(self, target: Target | None) -> None:
        """Adopt a target; failures of every other version are forgotten (a skip lasts until the target changes)."""
        self.target = target
        keep = None if target is None else target.version
        self._records = {v: r for v, r in self._records.items() if v == keep}

    def on_loop_target(self, loop_target: Target | None) -> None:
        """A successful deployment-target poll (§7.3 steps 3-4); None = the Loop has no target."""
        self.loop_target = loop_target
        if self.mode == FOLLOW_LOOP and loop_target is not None and loop_target != self.target:
            self._set_target(loop_target)

    def follow_loop(self) -> None:
        """`PUT /model_version follow_loop`: adopt the Loop's target now if one is known."""
        self.mode = FOLLOW_LOOP
        if self.loop_target is not None and self.loop_target != self.target:
            self._set_target(self.loop_target)

    def pause(self) -> None:
        """`PUT /model_version pause`: a pending target is still applied."""
        self.mode = PAUSE

    def choose(self, target: Target) -> None:
        """`PUT /model_version <version>` once resolved; naming a version again clears its failures and skip."""
        self.mode = SPECIFIC_VERSION
        self._set_target(target)
        self._records.pop(target.version, None)

    def restore_default(self) -> None:
        """soft_reload: default mode, no target, no failures, no skips, no error."""
        self.mode = self.default_mode
        self._set_target(None)
        self._records.clear()
        self.error = None

    # ---- jobs -----------------------------------------------------------------------------------------

    def is_skipped(self, version: str) -> bool:
        record = self._records.get(version)
        return record is not None and record.artifact_failures >= MAX_ARTIFACT_FAILURES

    @property
    def skipped(self) -> list[str]:
        """Versions skipped after repeated artifact failures, sorted."""
        return sort_versions(v for v in self._records if self.is_skipped(v))

    def next_job(self, active_version: str | None) -> Target | None:
        """The target to hand to the model worker now (§7.3 step 5), or None."""
        target = self.target
        if target is None or target.version == active_version or self.is_skipped(target.version):
            return None
        if self.retry_in(target.version) > 0:
            return None
        return target

    def retry_in(self, version: str) -> float:
        """Seconds until `version` may be tried again (0 = now)."""
        record = self._records.get(version)
        return 0.0 if record is None else max(0.0, record.retry_at - self._clock())

    def record_failure(self, version: str, kind: FailureKind, cause: str) -> str:
        """Book a failed update (or start-up load) of `version`; returns and stores the `update_model` text."""
        record = self._records.setdefault(version, _FailureRecord())
        record.failures += 1
        record.retry_at = self._clock() + retry_delay(record.failures, self._base, self._cap)
        if kind == FailureKind.ARTIFACT:
            record.artifact_failures += 1
            if record.artifact_failures >= MAX_ARTIFACT_FAILURES:
                self.error = skipped_error_text(version)
                return self.error
        self.error = update_error_text(cause)
        return self.error

    def settle(self, active_version: str | None) -> bool:
        """Clear the error when the target is the running version (nothing left to do); True if it was cleared."""
        if self.error is None or self.target is None or self.target.version != active_version:
            return False
        self.error = None
        return True

    def record_success(self, version: str) -> None:
        """A successful swap to `version` clears the error and that version's failures."""
        self.error = None
        self._records.pop(version, None)

    def failures(self, version: str) -> tuple[int, int]:
        """(all failures, artifact failures) of `version` so far."""
        record = self._records.get(version)
        return (0, 0) if record is None else (record.failures, record.artifact_failures)
