"""ConverterLogic: the implementer's API of the converter node (annotator-converter.md §B4).

Subclass it, implement `_convert` and `get_converted_files`, and run it with
`loopnode converter --logic pkg.module:name`. Everything runs synchronously in the node's `convert`
thread, one model at a time::

    class OnnxToTensorRT(ConverterLogic):
        def __init__(self) -> None:
            super().__init__('onnx', 'tensorrt')

        def _convert(self, model_information: ModelInformation) -> None:
            build = self.new_executor('trtexec')
            build.start(['trtexec', '--onnx=model.onnx', '--saveEngine=converted/model.engine'])
            while build.is_running():
                if self.cancel_token.wait(0.5):
                    return  # the node is stopping; it kills the executor and uploads nothing
            if build.wait() != 0:
                raise RuntimeError('trtexec failed: ' + ' '.join(build.get_log_by_lines(tail=5)))

        def get_converted_files(self, model_id: str) -> list[str]:
            return [os.path.join(self.model_folder, 'converted', 'model.engine')]

Porting from upstream: the hook names are the same with `async` removed; long loops check
`self.cancel_token` instead of being cancelled as asyncio tasks.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from ..data import Context, ModelInformation
from ..service.executor import Executor, ExecutorRegistry


class ConversionCancelled(Exception):
    """The node is stopping: the current conversion ends without an upload (and counts as no failure)."""


class ConverterHost(Protocol):
    """What a ConverterLogic may use of its node (`self.node`)."""

    uuid: str
    name: str
    executors: ExecutorRegistry

    @property
    def data_folder(self) -> Path: ...

    def prepare_model_folder(self, model_information: ModelInformation) -> Path: ...

    def download_source(self, model_information: ModelInformation, source_format: str, folder: Path) -> None: ...

    def upload_converted(self, context: Context, model_id: str, target_format: str, files: list[str]) -> None: ...


class ConverterLogic:
    """Converts models of `source_format` into `target_format` (§B4).

    Provided: `self.node` (after `init`), `source_format`, `target_format`, `model_folder` (absolute path
    of the current model's folder as a str, set before `_convert`), `cancel_token` (a `threading.Event`
    set when the node stops), `new_executor(name)`, and the overridable `convert` and `upload_model`.
    Required: `_convert(model_information)` and `get_converted_files(model_id)`.
    """

    def __init__(self, source_format: str, target_format: str) -> None:
        if not source_format or not target_format or source_format == target_format:
            raise ValueError(f'source and target format must be two different names, got '
                             f'{source_format!r} and {target_format!r}')
        self.source_format = source_format
        self.target_format = target_format
        self.node: ConverterHost | None = None
        self.model_folder: str | None = None
        self.cancel_token = threading.Event()

    # ---- wiring ------------------------------------------------------------------------------------------

    def init(self, node: ConverterHost) -> None:
        """Called by the node at construction: stores `self.node`."""
        self.node = node

    def _host(self) -> ConverterHost:
        if self.node is None:
            raise RuntimeError('the logic is not attached to a node (init(node) was not called)')
        return self.node

    # ---- hooks to implement ------------------------------------------------------------------------------

    def _convert(self, model_information: ModelInformation) -> None:
        """Convert the files in `self.model_folder`; raise on failure; check `self.cancel_token` in long loops."""
        raise NotImplementedError

    def get_converted_files(self, model_id: str) -> list[str]:
        """Absolute paths of the files to upload as the target format (a `model.json` is added if missing)."""
        raise NotImplementedError

    # ---- provided, overridable ---------------------------------------------------------------------------

    def convert(self, model_information: ModelInformation) -> None:
        """§B2 steps 4.1–4.4: fresh model folder, download and unzip the source, complete the info, `_convert`.

        The downloaded `model.json`'s `resolution`, `model_size` and `conf_threshold` are copied into
        `model_information` before `_convert` sees it.
        """
        host = self._host()
        self.raise_if_cancelled()
        folder = host.prepare_model_folder(model_information)
        self.model_folder = str(folder)
        host.download_source(model_information, self.source_format, folder)
        self.raise_if_cancelled()
        self._convert(model_information)
        self.raise_if_cancelled()

    def upload_model(self, context: Context, model_id: str) -> None:
        """§B2 steps 4.5–4.6: upload `get_converted_files(model_id)` as the target format; raise on failure."""
        files = self.get_converted_files(model_id)
        self.raise_if_cancelled()
        self._host().upload_converted(context, model_id, self.target_format, list(files))

    # ---- helpers -----------------------------------------------------------------------------------------

    def raise_if_cancelled(self) -> None:
        """Raise ConversionCancelled once the node is stopping."""
        if self.cancel_token.is_set():
            raise ConversionCancelled('the node is stopping')

    def new_executor(self, name: str) -> Executor:
        """An Executor for an external program, working in `model_folder`, logging to `<name>.log`.

        Every executor made here is killed (its whole process group) when the node stops, and after a
        kill -9 of the node when it starts again.
        """
        host = self._host()
        base = Path(self.model_folder) if self.model_folder else host.data_folder / 'executors'
        return host.executors.new(base, log_name=f'{name}.log')
