"""The annotator node (annotator-converter.md part A): `AnnotatorNode`, the `AnnotatorLogic` API, the mock."""
from .logic import AnnotatorLogic, ToolOutput
from .mock import MockAnnotatorLogic
from .node import AnnotatorNode, run_from_cli

__all__ = ['AnnotatorLogic', 'AnnotatorNode', 'MockAnnotatorLogic', 'ToolOutput', 'run_from_cli']
