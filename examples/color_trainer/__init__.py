"""A classic-CV example trainer: fits the `color_blobs` colour model in a subprocess, resumable (see README.md).

`ColorTrainerLogic` is the logic to run:
`loopnode trainer --logic loopnode.examples.color_trainer.logic:ColorTrainerLogic`.
The training script and its pure parts (`dataset`, `checkpoint`, `evaluate`, `train`) import without the trainer node.
"""
