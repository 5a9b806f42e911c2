"""The minimal TrainerLogic of docs/trainer.md runs a whole training against devloop as written."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from tests.helpers import until
from tests.trainer.conftest import Harness, model_uploads, posted_detections

DOC = Path(__file__).resolve().parents[2] / 'docs' / 'trainer.md'


def example_logic(tmp_path: Path):
    section = DOC.read_text().split('## Writing a TrainerLogic', 1)[1]
    code = re.search(r'```python\n(.*?)```', section, re.S).group(1)
    path = tmp_path / 'my_trainer.py'
    path.write_text(code)
    spec = importlib.util.spec_from_file_location('my_trainer', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MyTrainer()


@pytest.mark.timeout(60)
def test_the_documented_logic_trains_to_idle(harness: Harness, tmp_path: Path) -> None:
    logic = example_logic(tmp_path)
    node = harness.node(logic)
    harness.begin(node)
    until(lambda: model_uploads(harness.loop) and node.controller.active is None, timeout=30)
    assert [u['format'] for u in model_uploads(harness.loop)] == ['my_format']
    assert len(posted_detections(harness.loop)) == 10
    assert logic.epoch == 3
