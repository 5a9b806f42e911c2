"""The converter node (annotator-converter.md part B): adds a missing model format to models of the Loop.

`ConverterLogic` is the implementer's API, `MockConverterLogic` converts `mocked` → `mocked_converted`,
`ConverterNode` runs a logic (`loopnode converter --logic pkg.module:name`).
"""
from .logic import ConversionCancelled, ConverterLogic
from .mock import MockConverterLogic
from .node import ConverterNode

__all__ = ['ConversionCancelled', 'ConverterLogic', 'ConverterNode', 'MockConverterLogic']
