"""ActiveTraining: the one training in progress, shared by the training thread, commands and the status sender.

It bundles the record, its file, the error map, the cancel token, the stop/shutdown flags, progress and the
node services the steps use (`TrainerServices`). `persist()` writes the record unless shutdown began: the
flag and the write share one lock, so nothing reaches disk after `begin_shutdown()` returned.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from ..loop.http import LoopHttp
from ..service.executor import ExecutorRegistry
from ..settings import Settings
from .cancel import CancelToken
from .record import RecordFile, Training
from .steps import State
from .trainingio import TrainingIO

log = logging.getLogger(__name__)


class TrainerServices(Protocol):
    """What a training needs from its node (the `node` a logic sees)."""

    uuid: str
    name: str
    loop_http: LoopHttp
    settings: Settings
    executors: ExecutorRegistry

    def send_status(self) -> None: ...

    def socket_connected(self) -> bool: ...

    def socket_call(self, event: str, *args: Any, timeout: float) -> Any: ...


class TrainingErrors:
    """The error map of a training (error key → message); thread-safe; never persisted."""

    def __init__(self) -> None:
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()

    def set(self, key: str, message: str) -> None:
        with self._lock:
            self._errors[key] = message

    def reset(self, key: str) -> None:
        with self._lock:
            self._errors.pop(key, None)

    def reset_all(self) -> None:
        with self._lock:
            self._errors.clear()

    def has_error_for(self, key: str) -> bool:
        with self._lock:
            return key in self._errors

    def has_error(self) -> bool:
        """True when there is an error (differs from upstream, where this was inverted)."""
        with self._lock:
            return bool(self._errors)

    @property
    def errors(self) -> dict[str, str]:
        """A copy of the map."""
        with self._lock:
            return dict(self._errors)


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of what the status reports."""

    state: State
    errors: dict[str, str]
    progress: float | None
    start_time: float
    organization: str
    project: str


class ActiveTraining:
    """The training in progress with everything the steps and commands share."""

    def __init__(self, training: Training, node: TrainerServices, record_file: RecordFile) -> None:
        self.training = training
        self.node = node
        self.record_file = record_file
        self.errors = TrainingErrors()
        self.cancel = CancelToken()
        self.io = TrainingIO(training.training_path)
        self.failures: dict[str, int] = {}
        self.progress: float | None = None
        self.stop_requested = False
        self.history: deque[State] = deque([training.training_state], maxlen=200)  # states passed, for tests
        self.cleaned_up = threading.Event()
        self._lock = threading.Lock()
        self._shutdown = False
        self._aborted = False

    # ---- state -----------------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self.training.training_state

    def set_state(self, state: State) -> None:
        with self._lock:
            if self.training.training_state is not state:
                log.info('training %s: %s → %s', self.training.id[:8], self.training.training_state.value,
                         state.value)
            self.training.training_state = state
            self.history.append(state)

    def snapshot(self, progress: float | None) -> Snapshot:
        with self._lock:
            t = self.training
            return Snapshot(state=t.training_state, errors=self.errors.errors, progress=progress,
                            start_time=t.start_time, organization=t.context.organization, project=t.context.project)

    def persist(self) -> bool:
        """Write the record atomically unless shutdown began; True if written."""
        with self._lock:
            if self._shutdown:
                return False
            self.record_file.save(self.training)
            return True

    # ---- abort and shutdown ------------------------------------------------------------------------------

    def begin_shutdown(self) -> None:
        """From now on nothing is persisted; hooks see the cancel token."""
        with self._lock:
            self._shutdown = True
        self.cancel.set()

    @property
    def shutting_down(self) -> bool:
        with self._lock:
            return self._shutdown

    def begin_abort(self) -> None:
        with self._lock:
            self._aborted = True
        self.cancel.set()

    @property
    def aborted(self) -> bool:
        with self._lock:
            return self._aborted

    # ---- Loop paths ----------------------------------------------------------------------------------------

    @property
    def http(self) -> LoopHttp:
        return self.node.loop_http

    def project_path(self, suffix: str = '') -> str:
        """`/{org}/projects/{project}` + suffix for this training's project."""
        c = self.training.context
        return f'/{c.organization}/projects/{c.project}{suffix}'
