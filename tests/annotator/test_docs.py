"""docs/annotator.md is true as written: its complete example tool runs against devloop."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any, Callable

import requests

from loopnode.annotator import AnnotatorNode
from loopnode.devloop import DevLoop
from tests.annotator.conftest import send

DOC = Path(__file__).resolve().parents[2] / 'docs' / 'annotator.md'


def example_module(tmp_path: Path) -> Any:
    blocks = re.findall(r'```python\n(.*?)```', DOC.read_text(), re.S)
    [source] = [b for b in blocks if 'class RectTool' in b]
    path = tmp_path / 'rect_tool.py'
    path.write_text(source)
    spec = importlib.util.spec_from_file_location('rect_tool', path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rect_tool_example_draws_and_annotates(tmp_path: Path, make_annotator: Callable[..., AnnotatorNode],
                                               devloop: DevLoop) -> None:
    make_annotator(example_module(tmp_path).RectTool())
    image = devloop.store.image_ids('zauberzeug', 'demo')[0]

    def event(kind: str, x: int, y: int) -> Any:
        return send(devloop, {'frontend_id': 'f1', 'event_type': kind, 'x': x, 'y': y, 'image_uuid': image})
    assert event('left_mouse_down', 600, 400)['payload'].startswith('<rect x="600" y="400"')
    assert 'width="100" height="80"' in event('mouse_move', 700, 480)['payload']
    assert event('left_mouse_up', 700, 480)['payload'] == ''
    [received] = requests.get(f'{devloop.url}/admin/annotators/annotations', timeout=5).json()['annotations']
    points = received['payload']['payload']['shape']['points']
    assert points == [{'x': 600, 'y': 400}, {'x': 639, 'y': 400}, {'x': 639, 'y': 479}, {'x': 600, 'y': 479}]
