"""A classic-CV example annotation tool: a magic wand producing segmentation annotations (see README.md).

`MagicWandLogic` is the logic to run:
`loopnode annotator --logic loopnode.examples.color_annotator.logic:MagicWandLogic`.
The pure parts (`wand`, `outline`, `tool`) import without the annotator node.
"""
