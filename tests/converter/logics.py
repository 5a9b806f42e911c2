"""Converter logics for the tests (also loaded by `loopnode converter --logic tests.converter.logics:…`)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from loopnode.converter import MockConverterLogic
from loopnode.data import ModelInformation


class RecordingLogic(MockConverterLogic):
    """The mock without the 1 s wait; records every ModelInformation and the files of `model_folder`."""

    def __init__(self, source_format: str = 'mocked', target_format: str = 'mocked_converted') -> None:
        super().__init__(source_format, target_format, duration=0)
        self.seen: list[ModelInformation] = []
        self.folder_files: dict[str, list[str]] = {}

    def _convert(self, model_information: ModelInformation) -> None:
        self.seen.append(model_information)
        assert self.model_folder is not None
        root = Path(self.model_folder)
        self.folder_files[model_information.id] = sorted(str(p.relative_to(root)) for p in root.rglob('*')
                                                         if p.is_file())
        super()._convert(model_information)

    def calls(self, model_id: str) -> int:
        return sum(1 for info in self.seen if info.id == model_id)


class FlakyLogic(RecordingLogic):
    """Raises `RuntimeError('flaky <n>')` for the first `failures[model_id]` attempts of a model."""

    def __init__(self, failures: dict[str, int]) -> None:
        super().__init__()
        self.failures = dict(failures)
        self.attempts: dict[str, int] = {}

    def _convert(self, model_information: ModelInformation) -> None:
        attempt = self.attempts[model_information.id] = self.attempts.get(model_information.id, 0) + 1
        if attempt <= self.failures.get(model_information.id, 0):
            raise RuntimeError(f'flaky {attempt}')
        super()._convert(model_information)


class GateLogic(RecordingLogic):
    """`_convert` signals `entered` and waits until the test sets `gate` (or the node stops)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def _convert(self, model_information: ModelInformation) -> None:
        self.entered.set()
        while not self.gate.wait(0.05):
            if self.cancel_token.is_set():
                return
        super()._convert(model_information)


class NoFilesLogic(RecordingLogic):
    def get_converted_files(self, model_id: str) -> list[str]:
        return []


class OwnModelJsonLogic(RecordingLogic):
    """Lists a model.json of its own next to the converted file (the node must not add another)."""

    def get_converted_files(self, model_id: str) -> list[str]:
        assert self.model_folder is not None
        own = os.path.join(self.model_folder, 'model.json')
        with open(own, 'w', encoding='utf-8') as f:
            f.write('{"id": "%s", "own": true}' % model_id)
        return super().get_converted_files(model_id) + [own]


class ExecutorLogic(MockConverterLogic):
    """Runs `sleep 600` (and a grandchild) in an executor and waits for it; writes the pids to PID_FILE."""

    def __init__(self) -> None:
        super().__init__(duration=0)

    def _convert(self, model_information: ModelInformation) -> None:
        executor = self.new_executor('sleeper')
        executor.start(['sh', '-c', 'sleep 600 & echo $! > grandchild.pid; wait'])
        pid_file = Path(os.environ['PID_FILE'])
        pid_file.write_text(f'{executor.pid}\n{Path(self.model_folder or "", "grandchild.pid")}\n')
        while executor.is_running():
            if self.cancel_token.wait(0.1):
                return
        raise RuntimeError('sleep ended')


class HangingLogic(MockConverterLogic):
    """Ignores the cancel token: `_convert` blocks for 10 minutes (the node must still exit)."""

    def __init__(self) -> None:
        super().__init__(duration=0)

    def _convert(self, model_information: ModelInformation) -> None:
        Path(os.environ['PID_FILE']).write_text('hanging\n')
        time.sleep(600)


def format_a_to_b() -> RecordingLogic:
    return RecordingLogic('format_a', 'format_b')


class ShellLogic(MockConverterLogic):
    """The docs' pattern: an executor runs an external program in `model_folder` (`sh -c SCRIPT`)."""

    def __init__(self, script: str) -> None:
        super().__init__(duration=0)
        self.script = script

    def _convert(self, model_information: ModelInformation) -> None:
        os.makedirs(os.path.join(self.model_folder or '', 'converted'), exist_ok=True)
        build = self.new_executor('build')
        build.start(['sh', '-c', self.script])
        while build.is_running():
            if self.cancel_token.wait(0.05):
                return
        if build.wait() != 0:
            raise RuntimeError('build failed: ' + ' | '.join(build.get_log_by_lines(tail=2)))

    def get_converted_files(self, model_id: str) -> list[str]:
        return [os.path.join(self.model_folder or '', 'converted', 'engine.bin')]
