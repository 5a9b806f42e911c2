"""The detector's models (detector.md §6, §7): `ModelManager` (manager.py) and its parts.

slot.py (the active logic, `ModelSlot`), versions.py (pure version-control rules), loop_queries.py (the Loop
lookups: deployment target, model by version), jobs.py (the `model` thread and its reload/reset jobs).
"""
from .loop_queries import VersionRequestError
from .manager import ModelManager

__all__ = ['ModelManager', 'VersionRequestError']
