"""Shared fixtures: every test must leave no thread of ours running."""
from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest

from tests.fixtures_devloop import devloop  # noqa: F401 - shared fixture: a started DevLoop with the demo seed

# Threads that libraries start once per process and keep (not ours to join).
_IGNORED_PREFIXES = ('pydevd', 'ThreadPoolExecutor', 'watchdog', 'Dummy-', 'asyncio_')


def _our_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate()
            if t is not threading.main_thread() and t.is_alive() and not t.daemon
            and not t.name.startswith(_IGNORED_PREFIXES)}


def _still_leaked(threads: set[threading.Thread]) -> set[threading.Thread]:
    """Those still running, except connection threads (`<server>-conn-<n>`) of an HTTP server that is still
    running (a module-wide node or devloop; a browser keeps its connections between tests): that server's
    shutdown closes their connections and joins them."""
    running = {t.name for t in threading.enumerate() if t.is_alive()}
    return {t for t in threads if t.is_alive()
            and not ('-conn-' in t.name and t.name.rpartition('-conn-')[0] in running)}


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves non-daemon threads running (servers, workers) after it ends."""
    before = _our_threads()
    yield
    deadline = time.monotonic() + 15.0  # threads ending after a stop take longer on a loaded machine
    leaked = _still_leaked(_our_threads() - before)
    while leaked and time.monotonic() < deadline:
        time.sleep(0.05)
        leaked = _still_leaked(leaked)
    assert not leaked, f'threads left running: {sorted(t.name for t in leaked)}'


def pytest_unconfigure(config: pytest.Config) -> None:
    """End the run even if a hung test left a non-daemon thread behind (reported above as a leak).

    Without this the interpreter waits for that thread forever after printing the summary, and CI stalls
    until its timeout instead of failing with the run's exit code.
    """
    leftovers = sorted(t.name for t in _our_threads())
    if leftovers:
        import os
        import sys
        sys.stderr.write(f'tests/conftest.py: ending the run; threads still running: {leftovers}\n')
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(getattr(config, 'loopnode_exitstatus', 1))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Keep the exit status for `pytest_unconfigure`."""
    session.config.loopnode_exitstatus = int(exitstatus)  # type: ignore[attr-defined]
