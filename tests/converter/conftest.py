"""Converter fixtures: a devloop (demo seed), ConverterNodes on port 0 with settings from a dict (never the
real environment), a fake monotonic clock for the retry schedule, and devloop admin helpers."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from loopnode.converter import ConverterLogic, ConverterNode, MockConverterLogic
from loopnode.devloop import DEMO_ORG, DEMO_PROJECT, DevLoop
from loopnode.settings import Settings
from tests.fixtures_devloop import devloop  # noqa: F401 - shared fixture
from tests.helpers import until

DEMO = f'/api/{DEMO_ORG}/projects/{DEMO_PROJECT}'

StartConverter = Callable[..., ConverterNode]


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def converter_settings(data: Path, loop_url: str, **env: str) -> Settings:
    values = {'DATA_FOLDER': str(data), 'LOOP_HOST': loop_url, 'NODE_PORT': '0', 'LOOP_POLL_INTERVAL': '0.2',
              'CONVERTER_POLL_INTERVAL': '3600', 'USE_BACKDOOR_CONTROLS': 'true', 'SHUTDOWN_GRACE_SEC': '3'}
    values.update(env)
    return Settings.from_env(values, node_type='converter')


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def start_converter(tmp_path: Path, devloop: DevLoop, clock: FakeClock) -> Iterator[StartConverter]:
    """`start_converter(logic=None, wait_first_pass=True, **env)` → a started ConverterNode against devloop.

    Automatic passes run once at start and then hourly, so tests drive further passes with `POST /step`.
    """
    nodes: list[ConverterNode] = []

    def start(logic: ConverterLogic | None = None, *, wait_first_pass: bool = True, loop_url: str | None = None,
              **env: str) -> ConverterNode:
        settings = converter_settings(tmp_path / f'converter{len(nodes)}', loop_url or devloop.url, **env)
        node = ConverterNode(logic or MockConverterLogic(duration=0), name='test converter', settings=settings,
                             clock=clock)
        nodes.append(node)
        node.start()
        if wait_first_pass:
            until(lambda: node.passes.passes_done >= 1, timeout=30, message='first pass done')
        return node

    yield start
    for node in nodes:
        node.stop()


def step(node: ConverterNode) -> dict[str, Any]:
    """`POST /step` (one pass, answered when done); returns the pass report."""
    response = requests.post(node.url + '/step', timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def models(loop: DevLoop, fmt: str | None = None, project: str = DEMO_PROJECT) -> list[dict[str, Any]]:
    query = f'?format={fmt}' if fmt else ''
    response = requests.get(f'{loop.url}/api/{DEMO_ORG}/projects/{project}/models{query}', timeout=5)
    assert response.status_code == 200
    return response.json()['models']


def conversions(loop: DevLoop, **query: str) -> list[dict[str, Any]]:
    response = requests.get(loop.url + '/admin/received/conversions', params=query, timeout=5)
    assert response.status_code == 200
    return [r['payload'] for r in response.json()['conversions']]


def requests_log(loop: DevLoop) -> list[dict[str, Any]]:
    return requests.get(loop.url + '/admin/requests', params={'limit': 1000}, timeout=5).json()['requests']


def add_fault(loop: DevLoop, **rule: Any) -> int:
    response = requests.post(loop.url + '/admin/faults', json=rule, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()['id']


def zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w') as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def zip_names(content: bytes) -> list[str]:
    return sorted(zipfile.ZipFile(io.BytesIO(content)).namelist())
