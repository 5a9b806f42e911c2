"""A classic-CV example converter: `color_blobs` → `color_blobs_lut` (a lookup table over quantised colours).

Run it with `loopnode converter --logic loopnode.examples.color_converter:ColorLutConverter` (see README.md).
"""
from .logic import ColorLutConverter

__all__ = ['ColorLutConverter']
