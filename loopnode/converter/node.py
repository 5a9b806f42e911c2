"""ConverterNode: the converter's process (annotator-converter.md part B) and the CLI runner.

Threads: `http` (local REST: /status, /healthz, backdoors), `convert` (one conversion pass at a time),
`loop-socket` (handles only `restart` → exit 75; the converter emits nothing) and an empty `repeat` cycle.
At shutdown the logic's cancel token is set and its executors are killed (SIGTERM to each process group,
then SIGKILL) before the Loop socket is shut down.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from ..data import Context, ModelInformation
from ..service.node import EXIT_FATAL
from ..service.socket_node import SocketNodeService
from ..settings import Settings
from .api_backdoor import register_backdoor_routes
from .logic import ConverterLogic
from .retry import Clock, RetrySchedule
from .runner import ConversionRunner, PassReport
from .schedule import PassLoop

log = logging.getLogger(__name__)

EXIT_USAGE = 2


def _iso_in(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec='seconds')


class ConverterNode(SocketNodeService):
    """Adds `logic.target_format` to every model that has `logic.source_format` only; `start()`/`stop()` or `run()`.

    `clock` (monotonic seconds) drives the per-model retry schedule; tests pass a fake one.
    """

    node_type = 'converter'
    socket_node_type = 'converter'

    def __init__(self, logic: ConverterLogic, *, name: str | None = None, uuid: str | None = None,
                 settings: Settings | None = None, clock: Clock | None = None) -> None:
        super().__init__(settings or Settings.from_env(node_type='converter'), name=name, uuid=uuid)
        self.logic = logic
        self.retry = RetrySchedule(clock or time.monotonic)
        self.runner = ConversionRunner(self.settings, self.loop_http, logic, self.retry)
        self.passes: PassLoop[PassReport] = PassLoop(self._run_pass, lambda: self.settings.converter_poll_interval)
        self._passes_total = Counter('loopnode_converter_passes_total', 'Conversion passes run',
                                     registry=self.registry)
        self._models_total = Counter('loopnode_converter_models_total', 'Models converted or failed, by result',
                                     ['result'], registry=self.registry)
        self.add_worker(self.passes)
        logic.init(self)
        if self.settings.use_backdoor_controls:
            register_backdoor_routes(self)

    # The Loop socket (SocketNodeService) handles only `restart` (exit 75); the converter emits nothing and its
    # repeat cycle is empty (loop-protocol.md §10.2): the passes have their own period.

    def _run_pass(self, stop: threading.Event) -> PassReport:
        report = self.runner.run_pass(stop)
        self._passes_total.inc()
        self._models_total.labels('converted').inc(report.converted)
        self._models_total.labels('failed').inc(report.failed)
        return report

    # ---- ConverterHost: what the logic's provided convert/upload_model use -------------------------------

    @property
    def data_folder(self) -> Path:
        return self.settings.data_folder

    def prepare_model_folder(self, model_information: ModelInformation) -> Path:
        return self.runner.prepare_model_folder(model_information)

    def download_source(self, model_information: ModelInformation, source_format: str, folder: Path) -> None:
        self.runner.download_source(model_information, source_format, folder)

    def upload_converted(self, context: Context, model_id: str, target_format: str, files: list[str]) -> None:
        self.runner.upload_converted(context, model_id, target_format, files)

    # ---- NodeService hooks ---------------------------------------------------------------------------------

    def status_extra(self) -> dict[str, Any]:
        """`GET /status` key `converter` (§B6): last pass, counts, and each failing model's error and next retry."""
        last = self.passes.last_report
        next_pass = self.passes.seconds_to_next_pass()
        failing = {}
        for failure in self.retry.failures():
            failing[failure.model_id] = {
                'organization': failure.organization, 'project': failure.project, 'version': failure.version,
                'failures': failure.failures, 'last_error': failure.last_error,
                'next_retry': _iso_in(self.retry.seconds_until(failure))}
        return {'converter': {
            'source_format': self.logic.source_format, 'target_format': self.logic.target_format,
            'automatic': self.passes.automatic, 'running': self.passes.running,
            'passes': self.passes.passes_done,
            'last_pass': None if last is None else last.to_dict(),
            'next_pass': None if next_pass is None or self.passes.running else _iso_in(next_pass),
            'converted': self.runner.converted_total, 'failed': len(failing), 'failing': failing}}

    def stop_workers(self) -> None:
        """Cancel the running conversion and kill the node's executors (process groups) within the grace."""
        self.logic.cancel_token.set()
        self.executors.stop_all(self.settings.shutdown_grace)
        super().stop_workers()  # then the Loop socket (§10.3)


def resolve_logic(obj: Any) -> ConverterLogic | None:
    """The ConverterLogic named by `--logic`: an instance, or what a no-argument callable returns; else None."""
    if not isinstance(obj, ConverterLogic) and callable(obj) and not isinstance(obj, type):
        obj = obj()  # a callable the CLI did not call itself (e.g. functools.partial)
    return obj if isinstance(obj, ConverterLogic) else None


def run_from_cli(settings: Settings, logic: Any, name: str | None) -> int:
    """`loopnode converter --logic pkg.module:name`: run until SIGTERM/SIGINT or `restart`; returns the exit code."""
    if logic is None:
        log.error('loopnode converter needs --logic pkg.module:name naming a ConverterLogic '
                  '(e.g. loopnode.converter:MockConverterLogic)')
        return EXIT_USAGE
    resolved = resolve_logic(logic)
    if resolved is None:
        log.error('%r is not a ConverterLogic (subclass loopnode.ConverterLogic and implement _convert and '
                  'get_converted_files)', logic)
        return EXIT_USAGE
    try:
        node = ConverterNode(resolved, name=name, settings=settings)
    except Exception:
        log.exception('the converter could not be created')
        return EXIT_FATAL
    return node.run()
