"""The converter logic of the benchmark: loopnode's MockConverterLogic without its 1 s wait.

`loopnode converter --logic loopnode_converter_logic:instant_mock` with `PYTHONPATH=bench`, so that a pass
over 20 models measures the node (listing, download, unzip, upload), not the mock's sleep.
"""
from __future__ import annotations

from loopnode.converter import MockConverterLogic


def instant_mock() -> MockConverterLogic:
    """`mocked` → `mocked_converted`, no wait."""
    return MockConverterLogic(duration=0.0)
