"""The detector node (detector.md): `DetectorNode`, the logic/factory protocols and the mock factory."""
from .logic import BatchDetectorLogic, DetectorFactory, DetectorLogic, MockDetectorFactory, MockDetectorLogic
from .node import DetectorNode, run_from_cli

__all__ = ['BatchDetectorLogic', 'DetectorFactory', 'DetectorLogic', 'DetectorNode', 'MockDetectorFactory',
           'MockDetectorLogic', 'run_from_cli']
