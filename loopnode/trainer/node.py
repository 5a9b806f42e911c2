"""TrainerNode: the Socket.IO node that runs trainings (trainer.md §1, §5, §10) and the CLI runner.

Wiring only: Loop events go to the `TrainingController`; the repeat cycle resumes a persisted training,
sends `update_trainer` while connected and checks the idle timeout (also while the Loop is unreachable).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from ..data import TrainingStatus
from ..service.launch import run_logic_node
from ..service.node import EXIT_OK
from ..service.socket_node import SocketNodeService
from ..settings import Settings
from .cancel import CancelToken
from .controller import TrainingController
from .logic import TrainerLogicGeneric

log = logging.getLogger(__name__)

UPDATE_TRAINER_TIMEOUT = 30.0
IDLE_STATES = frozenset({'idle', 'blocked'})


class TrainerNode(SocketNodeService):
    """A trainer running `logic`; `start()`/`stop()` or `run() -> exit code`."""

    node_type = 'trainer'
    socket_node_type = 'trainer'

    def __init__(self, logic: TrainerLogicGeneric, *, name: str | None = None, uuid: str | None = None,
                 settings: Settings | None = None, clock: Callable[[], float] = time.monotonic,
                 backoff_wait: Callable[[CancelToken, float], bool] | None = None,
                 socket_options: dict[str, Any] | None = None) -> None:
        if not isinstance(logic, TrainerLogicGeneric):
            raise TypeError(f'logic must be a TrainerLogicGeneric, got {type(logic).__name__}')
        super().__init__(settings or Settings.from_env(node_type='trainer'), name=name, uuid=uuid,
                         socket_options=socket_options)
        self.logic = logic
        self.clock = clock
        logic._attach_node(self)
        self.controller = TrainingController(self, logic, request_exit=self.request_exit, backoff_wait=backoff_wait)
        self._idle_since: float | None = None
        self._last_state: str | None = None
        if self.settings.use_backdoor_controls:
            from .backdoor import register_backdoor_routes
            register_backdoor_routes(self)

    # ---- TrainerServices --------------------------------------------------------------------------------

    def socket_connected(self) -> bool:
        return bool(self.loop_socket.connected)

    def socket_call(self, event: str, *args: Any, timeout: float) -> Any:
        return self.loop_socket.call(event, *args, timeout=timeout, check=False)

    def send_status(self) -> bool:
        """`update_trainer` now, if connected; a failed or late ack marks the socket broken (reconnect)."""
        record = self.status_record()
        state = record['state']
        level = logging.INFO if state != self._last_state else logging.DEBUG
        self._last_state = state
        if not self.socket_connected():
            log.debug('not connected: status %s not sent', state)
            return False
        log.log(level, 'status: %s%s', state, f' errors {record["errors"]}' if record['errors'] else '')
        try:
            self.loop_socket.call('update_trainer', record, timeout=UPDATE_TRAINER_TIMEOUT)
            return True
        except Exception as e:  # noqa: BLE001 - LoopSocketError and whatever the link raises
            log.warning('update_trainer failed: %s', e)
            return False

    # ---- NodeService hooks -----------------------------------------------------------------------------

    def status_record(self) -> dict[str, Any]:
        """TrainingStatus (loop-protocol.md §7.8)."""
        fields = self.controller.status_fields()
        try:
            pretrained = self.logic.provided_pretrained_models
            architecture = self.logic.model_architecture
        except Exception:  # noqa: BLE001 - a status must never fail on the logic
            log.exception('the logic failed to report its models')
            pretrained, architecture = [], None
        return TrainingStatus.from_dict({
            'id': self.uuid, 'name': self.name, 'state': fields['state'], 'uptime': fields['uptime'],
            'errors': fields['errors'], 'progress': fields['progress'],
            'pretrained_models': [p.to_dict() for p in pretrained], 'architecture': architecture,
            'context': fields['context']}).to_dict()

    def socket_handlers(self) -> dict[str, Callable[..., Any]]:
        return {'begin_training': self.controller.begin_training, 'stop_training': self.controller.stop_training,
                'abort_training': self.controller.abort_training}

    def repeat_cycle(self) -> None:
        """Resume check → `update_trainer` → idle timeout (loop-protocol.md §10.2)."""
        resumed = self.controller.resume_if_pending()
        if not resumed:
            self.send_status()
        self.check_idle_timeout()

    def check_idle_timeout(self) -> None:
        timeout = self.settings.trainer_idle_timeout_sec
        if timeout <= 0:
            return
        state = self.controller.status_fields()['state']
        now = self.clock()
        if state not in IDLE_STATES:
            self._idle_since = None
            return
        if self._idle_since is None:
            self._idle_since = now
        elif now - self._idle_since > timeout:
            log.info('idle for more than %.0f s: exiting', timeout)
            self.request_exit(EXIT_OK)

    def stop(self) -> None:
        self.controller.begin_shutdown()  # first: nothing is persisted from here on (trainer.md §5.3)
        super().stop()

    def stop_workers(self) -> None:
        self.controller.shutdown(self.settings.shutdown_grace)
        super().stop_workers()


def run_from_cli(settings: Settings, logic: Any, name: str | None) -> int:
    """`loopnode trainer --logic pkg.module:name`: build and run the node; returns the exit code."""
    def resolve(obj: Any) -> TrainerLogicGeneric:
        if not isinstance(obj, TrainerLogicGeneric):
            raise ValueError('--logic must name a TrainerLogic (or a callable returning one), '
                             f'got {type(obj).__name__}')
        return obj
    return run_logic_node('trainer', logic, wanted='a TrainerLogic', example='loopnode.trainer:MockTrainerLogic',
                          resolve=resolve,
                          build=lambda resolved: TrainerNode(resolved, name=name, settings=settings))
