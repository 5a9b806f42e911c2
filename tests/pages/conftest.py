"""Fixtures of the page tests: one headless Chromium per module (skipped with the reason when it cannot run)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.fixtures_devloop import devloop  # noqa: F401 - shared fixture
from tools.browser import Browser, missing_reason


@pytest.fixture(scope='module')
def browser() -> Iterator[Any]:
    """A selenium WebDriver of headless Chromium, shared by the tests of one module."""
    reason = missing_reason()
    if reason:
        pytest.skip(f'no headless browser: {reason}')
    chromium = Browser()
    try:
        yield chromium.driver
    finally:
        chromium.close()
