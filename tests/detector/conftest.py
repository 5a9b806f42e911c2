"""Shared detector fixtures: a devloop, a data folder with `models/0.0` + `current_model`, and started
DetectorNodes on port 0 (settings from `Settings.from_env({...})`, never from the real environment)."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import requests
from PIL import Image

from loopnode.detector import DetectorNode, MockDetectorFactory
from loopnode.devloop import DEMO_ORG, DEMO_PROJECT, DevLoop
from loopnode.settings import Settings
from tests.fixtures_devloop import devloop  # noqa: F401 - shared fixture
from tests.helpers import until

MODEL_CATEGORIES = [
    {'id': 'cat-box', 'name': 'some_category_name', 'type': 'box'},
    {'id': 'cat-point', 'name': 'some_category_name_2', 'type': 'point'},
    {'id': 'cat-seg', 'name': 'some_category_name_3', 'type': 'segmentation'},
    {'id': 'cat-cls', 'name': 'some_category_name_4', 'type': 'classification'},
]
UNREACHABLE_LOOP = 'http://127.0.0.1:9'  # discard port: connection refused at once

StartNode = Callable[..., DetectorNode]


def write_model(data: Path, version: str = '0.0', *, current: bool = True,
                categories: list[dict[str, Any]] | None = None) -> Path:
    """A model folder `models/<version>` with a model.json; `current_model` points to it when `current`."""
    folder = data / 'models' / version
    folder.mkdir(parents=True, exist_ok=True)
    info = {'id': f'00000000-0000-0000-0000-0000000000{version.replace(".", "")}', 'organization': DEMO_ORG,
            'project': DEMO_PROJECT, 'version': version, 'format': 'mocked',
            'categories': MODEL_CATEGORIES if categories is None else categories}
    (folder / 'model.json').write_text(json.dumps(info))
    if current:
        link = data / 'current_model'
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(os.path.join('models', version), link)
    return folder


def node_settings(data: Path, loop_url: str, **env: str) -> Settings:
    values = {'DATA_FOLDER': str(data), 'LOOP_HOST': loop_url, 'LOOP_ORGANIZATION': DEMO_ORG,
              'LOOP_PROJECT': DEMO_PROJECT, 'NODE_PORT': '0', 'LOOP_POLL_INTERVAL': '0.2', 'SYNC_CYCLES': '2',
              'VERSION_CONTROL_DEFAULT': 'pause', 'OUTBOX_MIN_FREE_MB': '0', 'SHUTDOWN_GRACE_SEC': '2'}
    values.update(env)
    return Settings.from_env(values, node_type='detector')


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    """A node data folder holding model 0.0 with `current_model` pointing to it."""
    data = tmp_path / 'node'
    write_model(data)
    return data


@pytest.fixture
def start_node(data_folder: Path) -> Iterator[StartNode]:
    """`start_node(factory=None, loop_url=UNREACHABLE_LOOP, wait_active=True, data=None, **env)` → started node."""
    nodes: list[DetectorNode] = []

    def start(factory: Any = None, loop_url: str = UNREACHABLE_LOOP, *, wait_active: bool = True,
              data: Path | None = None, **env: str) -> DetectorNode:
        settings = node_settings(data or data_folder, loop_url, **env)
        node = DetectorNode(factory or MockDetectorFactory(), name='test detector', settings=settings)
        nodes.append(node)
        node.start()
        if wait_active:
            until(lambda: node.model_manager.slot.state == 'active', timeout=10, message='model active')
        return node

    yield start
    for node in reversed(nodes):
        node.stop()


@pytest.fixture
def node(start_node: StartNode, devloop: DevLoop) -> DetectorNode:  # noqa: F811 - the fixture above
    """A started mock detector (version mode pause, model 0.0 active) talking to a devloop."""
    return start_node(loop_url=devloop.url)


# ---- images -----------------------------------------------------------------------------------------------

def jpeg_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30), **save: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new('RGB', (width, height), color).save(buffer, 'JPEG', **save)
    return buffer.getvalue()


def png_bytes(width: int = 32, height: int = 24, mode: str = 'RGBA') -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, 'PNG')
    return buffer.getvalue()


def raw_image(height: int = 48, width: int = 64) -> dict[str, Any]:
    """A Socket.IO raw image dict (RGB uint8)."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    return {'bytes': pixels.tobytes(), 'dtype': 'uint8', 'shape': [height, width, 3]}


def outbox_items(data: Path, queue: str = 'normal') -> list[Path]:
    folder = data / 'outbox' / queue
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def item_json(item: Path) -> dict[str, Any]:
    return json.loads(next(item.glob('*.json')).read_text())


def detect_rest(node: DetectorNode, image: bytes | None = None, headers: dict[str, str] | None = None,
                params: dict[str, str] | None = None, timeout: float = 10) -> requests.Response:
    files = {'file': ('image.jpg', image if image is not None else jpeg_bytes(), 'image/jpeg')}
    return requests.post(node.url + '/detect', files=files, headers=headers or {}, params=params, timeout=timeout)
