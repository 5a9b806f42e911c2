"""The detector's two questions to the Loop about models: the deployment target and a version's model id.

Both are plain calls through LoopHttp with their answers checked strictly (detector.md §7.2, §7.3); the
ModelManager decides what to do with the result.
"""
from __future__ import annotations

import logging
from typing import Any

import requests

from ...data import DataError, DeploymentTarget, ModelListEntry
from ...logs import RateLimitedLog
from ...loop.http import LoopHttp
from .versions import Target, is_valid_version

log = logging.getLogger(__name__)


class VersionRequestError(Exception):
    """str(e) is the 400 message of `PUT /model_version`."""


def fetch_deployment_target(http: LoopHttp, rate_log: RateLimitedLog) -> Target | None | bool:
    """The Loop's target, None for 'no target', False when the poll failed (keep the old one)."""
    path = http.project_path('/deployment/target')
    try:
        response = http.get(path, retry_429=False)  # the next cycle polls again; never stall the cycle
    except requests.RequestException as e:
        rate_log.warning('poll', 'deployment target poll failed: %s: %s', type(e).__name__, e)
        return False
    if response.status_code != 200:
        rate_log.warning('poll', 'deployment target poll: HTTP %d: %s', response.status_code, response.text[:200])
        return False
    try:
        target = DeploymentTarget.from_dict(response.json())
    except (ValueError, DataError) as e:
        rate_log.warning('poll', 'deployment target poll: invalid answer: %s', e)
        return False
    rate_log.reset('poll')
    if target.version is None or target.model_uuid is None:
        return None
    if not is_valid_version(target.version):
        rate_log.warning('poll-version', 'ignoring deployment target with version %r', target.version)
        return False
    return Target(target.model_uuid, target.version)


def find_loop_model(http: LoopHttp, version: str) -> Target:
    """The one model of the Loop with `version` (`GET P/models`); VersionRequestError with the §7.2 text."""
    failed = 'Failed to load models from learning loop: '
    try:
        response = http.get(http.project_path('/models'), retry_429=False)  # a client waits for this answer
    except requests.RequestException as e:
        raise VersionRequestError(f'{failed}{type(e).__name__}: {e}') from None
    if response.status_code != 200:
        raise VersionRequestError(f'{failed}HTTP {response.status_code}: {response.text[:200]}')
    try:
        models = response.json()['models']
        entries = [ModelListEntry.from_dict(m, path=f'models[{i}]') for i, m in enumerate(models)]
    except (ValueError, KeyError, TypeError, DataError) as e:
        raise VersionRequestError(f'{failed}invalid answer: {e}') from None
    _log_unused_differences(models)
    matches = [m for m in entries if m.version == version]
    if not matches:
        raise VersionRequestError(f'No Model with version {version}')
    if len(matches) > 1:
        raise VersionRequestError(f'Multiple models with version {version}')
    return Target(matches[0].id, version, matches[0].host)


def _log_unused_differences(models: list[Any]) -> None:
    """Debug-log model list entries with keys the node does not know or without fields it does not need."""
    for i, raw in enumerate(models):
        extra = sorted(str(key) for key in raw if key not in ModelListEntry.FIELDS)
        missing = [key for key in ModelListEntry.FIELDS if key not in raw]
        if extra or missing:
            log.debug('models[%d] (version %s): ignoring keys %s, missing optional %s', i, raw.get('version'),
                      extra, missing)
