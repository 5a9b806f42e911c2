"""Test logics built on the mock: hooks that fail, block or start extra processes on demand."""
from __future__ import annotations

import threading
from typing import Any

from loopnode.data import Detections, ModelInformation
from loopnode.trainer.mock import MockTrainerLogic


class ScriptedLogic(MockTrainerLogic):
    """The mock with switches: a failing sync, another training command, a `_detect` that starts processes."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_sync = False
        self.command: list[str] | None = None
        self.detect_command: list[str] | None = None
        self.detect_started = threading.Event()
        self.raise_in: dict[str, Exception] = {}
        self.clear_calls = 0

    def _maybe_raise(self, hook: str) -> None:
        if hook in self.raise_in:
            raise self.raise_in[hook]

    def _start_training_from_scratch(self) -> None:
        self._maybe_raise('start')
        if self.command is not None:
            self.executor.start(self.command)
        else:
            super()._start_training_from_scratch()

    def _sync_confusion_matrix(self) -> None:
        if self.fail_sync:
            raise RuntimeError('sync switched off by the test')
        super()._sync_confusion_matrix()

    def _prepare(self) -> None:
        self._maybe_raise('prepare')
        super()._prepare()

    def _upload_model(self) -> None:
        self._maybe_raise('upload')
        super()._upload_model()

    def _detect(self, model_information: ModelInformation, image_paths: list[str],
                model_folder: str) -> list[Detections]:
        self._maybe_raise('detect')
        if self.detect_command is not None:
            executor = self.new_executor('detect')
            executor.start(self.detect_command)
            self.detect_started.set()
            while executor.is_running() and not self.cancel_token.wait(0.05):
                pass
            self.cancel_token.check()
        return super()._detect(model_information, image_paths, model_folder)

    def _clear_training_data(self, training_folder: str) -> None:
        self.clear_calls += 1
        self._maybe_raise('clear')
        super()._clear_training_data(training_folder)

    def _get_model_metadata(self) -> dict[str, Any]:
        self._maybe_raise('metadata')
        return super()._get_model_metadata()
