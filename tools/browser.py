"""Headless Chromium from the OS packages (Debian `chromium` + `chromium-driver`) driven by selenium.

Used by the page tests (tests/pages/) and by tools/screenshots.py. The flags keep Chromium off the network
(no component updates, no sync, no background requests) and work as root in a container.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ('chromium', 'chromium-browser', 'google-chrome')
DRIVER_NAMES = ('chromedriver',)
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--disable-dev-shm-usage', '--hide-scrollbars')


def _which(names: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def missing_reason() -> str | None:
    """Why no browser can be started here (None when selenium, Chromium and chromedriver are all there)."""
    try:
        import selenium  # noqa: F401, PLC0415 - optional: only the page tests and the screenshot script need it
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if _which(CHROMIUM_NAMES) is None:
        return 'Chromium is not installed (Debian: apt-get install chromium chromium-driver)'
    if _which(DRIVER_NAMES) is None:
        return 'chromedriver is not installed (Debian: apt-get install chromium-driver)'
    return None


class Browser:
    """One headless Chromium with a fresh profile; `driver` is the selenium WebDriver. `close()` ends both."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        from selenium import webdriver  # noqa: PLC0415
        from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

        reason = missing_reason()
        if reason:
            raise RuntimeError(reason)
        self._profile = Path(tempfile.mkdtemp(prefix='loopnode-chromium-'))
        options = webdriver.ChromeOptions()
        options.binary_location = str(_which(CHROMIUM_NAMES))
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f'--user-data-dir={self._profile}')
        options.add_argument(f'--window-size={width},{height}')
        service = Service(executable_path=str(_which(DRIVER_NAMES)))  # never Selenium Manager (it downloads)
        try:
            self.driver: Any = webdriver.Chrome(options=options, service=service)
        except BaseException:
            shutil.rmtree(self._profile, ignore_errors=True)
            raise
        self.driver.set_page_load_timeout(30)

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> 'Browser':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
