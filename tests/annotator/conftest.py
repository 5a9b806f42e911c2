"""Fixtures: a started AnnotatorNode (recording logic) connected to devloop over loopback."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from loopnode.annotator import AnnotatorLogic, AnnotatorNode
from loopnode.devloop import DevLoop
from loopnode.settings import Settings
from tests.annotator.logics import RecordingLogic
from tests.helpers import until

FAST_SOCKET = {'base_delay': 0.05, 'max_delay': 0.5}


def annotator_settings(tmp_path: Path, url: str, **env: str) -> Settings:
    values = {'DATA_FOLDER': str(tmp_path / 'node'), 'NODE_PORT': '0', 'LOOP_HOST': url,
              'LOOP_POLL_INTERVAL': '0.1', 'LOOP_ORGANIZATION': 'zauberzeug', 'LOOP_PROJECT': 'demo', **env}
    return Settings.from_env(values, node_type='annotator')


@pytest.fixture
def make_annotator(tmp_path: Path, devloop: DevLoop) -> Iterator[Callable[..., AnnotatorNode]]:
    nodes: list[AnnotatorNode] = []

    def make(logic: AnnotatorLogic | None = None, **kwargs: Any) -> AnnotatorNode:
        node = AnnotatorNode(logic or RecordingLogic(), name='test annotator',
                             settings=annotator_settings(tmp_path, devloop.url), socket_options=FAST_SOCKET, **kwargs)
        nodes.append(node)
        node.start()
        until(node.loop_connected)
        until(lambda: requests.get(f'{devloop.url}/admin/annotators', timeout=5).json()['connected'])
        return node
    yield make
    for node in nodes:
        node.stop()


@pytest.fixture
def annotator(make_annotator: Callable[..., AnnotatorNode]) -> AnnotatorNode:
    return make_annotator()


def send(devloop: DevLoop, body: dict[str, Any]) -> dict[str, Any]:
    """POST /admin/annotators/any/handle_user_input; returns the node's ack."""
    response = requests.post(f'{devloop.url}/admin/annotators/any/handle_user_input', json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()['ack']


def image_requests(devloop: DevLoop, image_id: str) -> list[dict[str, Any]]:
    entries = requests.get(f'{devloop.url}/admin/requests', timeout=5).json()['requests']
    return [e for e in entries if e.get('path', '').endswith(f'/images/{image_id}/main')]
