"""Compatibility: rosys 0.37.0 parses loopnode's Socket.IO detection answers (`make test-compat`).

rosys's `DetectorHardware` is the Socket.IO client robots run. It parses a segmentation `shape` only as
`{"points": [{"x", "y"}, …]}` and fails ("Failed to parse detections") on upstream's flattened string, so our
Socket.IO answers carry the object (docs/compatibility.md); REST keeps the string. The answers come from a
real loopnode detector over Socket.IO; rosys's own parser runs on them in `.venv-compat` (compat/rosys_parse.py).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import requests
import socketio

from loopnode.detector import DetectorNode, MockDetectorFactory
from tests.detector.conftest import UNREACHABLE_LOOP, jpeg_bytes, node_settings, write_model
from tests.helpers import until

ROOT = Path(__file__).resolve().parents[1]
COMPAT_PYTHON = ROOT / '.venv-compat' / 'bin' / 'python'
PARSER = ROOT / 'compat' / 'rosys_parse.py'
MOCK_SHAPE = [[1.0, 1.0], [2.0, 2.0]]  # the mock logic's segmentation, '1,1,2,2'


@pytest.fixture
def node(tmp_path: Path) -> Iterator[DetectorNode]:
    data = tmp_path / 'node'
    write_model(data)
    node = DetectorNode(MockDetectorFactory(), name='rosys compat', settings=node_settings(data, UNREACHABLE_LOOP))
    node.start()
    try:
        until(lambda: node.model_manager.slot.state == 'active', message='model active')
        yield node
    finally:
        node.stop()


def rosys_parse(answers: dict[str, Any], home: Path) -> dict[str, Any]:
    if not COMPAT_PYTHON.exists():
        pytest.fail(f'{COMPAT_PYTHON} is missing: run `make test-compat`, which installs rosys')
    result = subprocess.run([str(COMPAT_PYTHON), str(PARSER)], input=json.dumps(answers), capture_output=True,
                            text=True, timeout=60, env={'PATH': '/usr/bin:/bin', 'HOME': str(home)}, cwd=home)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_rosys_parses_our_socketio_detect_and_batch_detect_answers(node: DetectorNode, tmp_path: Path) -> None:
    """rosys's DetectorHardware parsing accepts `detect` and `batch_detect` answers with a segmentation."""
    image = {'bytes': np.zeros((48, 64, 3), np.uint8).tobytes(), 'dtype': 'uint8', 'shape': [48, 64, 3]}
    client = socketio.Client(reconnection=False)
    client.connect(node.url, socketio_path='/ws/socket.io', transports=['websocket'], wait_timeout=10)
    try:
        detect = client.call('detect', {'image': image, 'autoupload': 'disabled'}, timeout=10)
        batch = client.call('batch_detect', {'images': [image, image], 'autoupload': 'disabled'}, timeout=10)
    finally:
        client.disconnect()
    rest = requests.post(node.url + '/detect', files={'file': ('a.jpg', jpeg_bytes(), 'image/jpeg')},
                         headers={'autoupload': 'disabled'}, timeout=10).json()
    assert rest['segmentation_detections'][0]['shape'] == '1,1,2,2'  # REST keeps upstream's string
    parsed = rosys_parse({'detect': detect, 'batch_detect': batch, 'rest_detect': rest}, tmp_path)
    expected = {'boxes': 1, 'points': 1, 'classifications': 1, 'segmentations': [MOCK_SHAPE]}
    assert parsed['detect'] == expected
    assert parsed['batch_detect'] == [expected, expected]
    assert 'error' in parsed['rest_detect']  # why Socket.IO differs: rosys cannot read the flattened string
