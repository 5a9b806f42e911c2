"""AnnotatorNode: interactive annotation tools for the Loop UI (annotator-converter.md part A).

`handle_user_input(UserInput)` → parse → Escape resets → cache the image → the frontend's history → the
logic → push an annotation (if any) → ack with the SVG. Events of one frontend run in arrival order on its
own worker (`frontends.py`); the order is fixed on the Socket.IO reading thread (`LoopSocket` dispatch).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ..data import AnnotationNodeStatus, Context, DataError, SegmentationAnnotation, UserInput
from ..service.launch import run_logic_node
from ..service.socket_node import SocketNodeService
from ..settings import Settings
from .frontends import IDLE_TIMEOUT, FrontendWorkers
from .images import ImageCache
from .logic import AnnotatorLogic, ToolOutput

log = logging.getLogger(__name__)

STATUS_TIMEOUT = 10.0
ANNOTATION_TIMEOUT = 30.0
LOGIC_METHODS = ('handle_user_input', 'create_empty_history', 'logout_user')


def plain_annotation(annotation: Any) -> dict[str, Any]:
    """The wire dict of an annotation with plain int points (numpy ints converted, floats rounded)."""
    data = annotation.to_dict() if isinstance(annotation, SegmentationAnnotation) else annotation
    try:
        return SegmentationAnnotation.from_dict(data, path='annotation', round_ints=True).to_dict()
    except DataError as e:
        raise ValueError(f'the logic returned an invalid annotation: {e}') from None


class AnnotatorNode(SocketNodeService):
    """An annotator serving `logic` to every frontend; `start()`/`stop()` or `run()`."""

    node_type = 'annotator'
    socket_node_type = 'annotation_node'

    def __init__(self, logic: AnnotatorLogic, *, name: str | None = None, uuid: str | None = None,
                 settings: Settings | None = None, idle_timeout: float = IDLE_TIMEOUT,
                 socket_options: dict[str, Any] | None = None) -> None:
        super().__init__(settings or Settings.from_env(node_type='annotator'), name=name, uuid=uuid,
                         socket_options=socket_options)
        self.logic = logic
        self.frontends = FrontendWorkers(idle_timeout=idle_timeout)
        self.images = ImageCache(self.settings.data_folder, self.loop_http)
        self._histories: dict[str, Any] = {}
        self._histories_lock = threading.Lock()
        self._last_state: str | None = None
        self.loop_socket.on('handle_user_input', self.handle_user_input, dispatch=self._by_frontend)
        self.loop_socket.on('user_logout', self.user_logout, dispatch=self._by_sid)
        init = getattr(logic, 'init', None)
        if callable(init):
            init(self)

    # ---- what the logic may use ---------------------------------------------------------------------------

    def image_path(self, context: Context | dict[str, Any], image_uuid: str) -> Path:
        """Absolute path of the cached image of `image_uuid` in the context's project."""
        if isinstance(context, dict):
            context = Context.from_dict(context)
        return self.images.path(context.organization, context.project, image_uuid)

    # ---- Loop → node events --------------------------------------------------------------------------------

    def _by_frontend(self, args: tuple[Any, ...], run: Any) -> None:
        """Dispatch on the reading thread: queue the event on its frontend's worker (arrival order)."""
        if len(args) != 1 or not isinstance(args[0], dict) or not isinstance(args[0].get('frontend_id'), str):
            raise ValueError('invalid UserInput: expected one object with a string frontend_id')
        self.frontends.submit(args[0]['frontend_id'], run)

    def _by_sid(self, args: tuple[Any, ...], run: Any) -> None:
        """`user_logout(sid)` runs after the events already queued for that frontend."""
        if len(args) != 1 or not isinstance(args[0], str):
            raise ValueError('user_logout expects one string argument (sid)')
        self.frontends.submit(args[0], run)

    def handle_user_input(self, raw: Any) -> str:
        """§A3: one event of one frontend → the SVG of the ack; raising fails the ack with the message."""
        try:
            user_input = UserInput.from_dict(raw, round_ints=True)
        except DataError as e:
            raise ValueError(f'invalid UserInput: {e}') from None
        frontend, data = user_input.frontend_id, user_input.data
        if data.key_up == 'Escape':
            self._reset_history(frontend)
            return ''
        org, project = data.context.organization, data.context.project
        self.images.ensure(org, project, data.image_uuid)
        history = self._history(frontend)
        try:
            output = self.logic.handle_user_input(user_input, history)
            if not isinstance(output, ToolOutput) or not isinstance(output.svg, str):
                raise ValueError(f'the logic returned {type(output).__name__}, not a ToolOutput with an svg string')
            annotation = None if output.annotation is None else plain_annotation(output.annotation)
        except Exception:
            self._reset_history(frontend)
            raise
        if annotation is not None:
            self._push_annotation(org, project, annotation)
        return output.svg

    def user_logout(self, sid: str) -> bool:
        """Drop the history stored under `sid`, tell the logic, end that frontend's worker."""
        with self._histories_lock:
            self._histories.pop(sid, None)
        try:
            return bool(self.logic.logout_user(sid))
        finally:
            self.frontends.end(sid)

    def _history(self, frontend: str) -> Any:
        with self._histories_lock:
            if frontend in self._histories:
                return self._histories[frontend]
        history = self.logic.create_empty_history()
        with self._histories_lock:
            return self._histories.setdefault(frontend, history)

    def _reset_history(self, frontend: str) -> None:
        history = self.logic.create_empty_history()
        with self._histories_lock:
            self._histories[frontend] = history

    def history(self, frontend: str) -> Any:
        """The stored history of a frontend, or None (for tests and the local status)."""
        with self._histories_lock:
            return self._histories.get(frontend)

    def _push_annotation(self, org: str, project: str, annotation: dict[str, Any]) -> None:
        """`update_segmentation_annotation(org, project, annotation)`; the ack is only logged (§A2)."""
        try:
            ack = self.loop_socket.call('update_segmentation_annotation', org, project, annotation,
                                        timeout=ANNOTATION_TIMEOUT, check=False)
            log.info('annotation %s for image %s sent; ack %s', annotation['id'], annotation['image_id'], ack)
        except Exception as e:  # noqa: BLE001 - the SVG is still acked
            log.warning('could not send annotation %s: %s', annotation['id'], e)

    # ---- status and lifecycle -----------------------------------------------------------------------------

    def status_record(self) -> dict[str, Any]:
        return AnnotationNodeStatus(id=self.uuid, name=self.name, uptime=self.uptime(), errors={},
                                    capabilities=list(getattr(self.logic, 'capabilities', ['segmentation']))
                                    ).to_dict()

    def status_extra(self) -> dict[str, Any]:
        return {'frontends': len(self.frontends.active()), 'image_downloads': self.images.downloads}

    def repeat_cycle(self) -> None:
        if not self.loop_connected():
            return
        status = self.status_record()
        self.loop_socket.call('update_annotation_node', status, timeout=STATUS_TIMEOUT)
        level = logging.INFO if status['state'] != self._last_state else logging.DEBUG
        log.log(level, 'status sent: %s', status['state'])
        self._last_state = status['state']

    def stop_workers(self) -> None:
        self.frontends.stop(self.settings.shutdown_grace)
        super().stop_workers()

    def stragglers(self) -> list[str]:
        return super().stragglers() + self.frontends.stragglers()


def resolve_logic(logic: Any) -> Any:
    """The annotator logic named by `--logic` (a callable lacking the hooks is called); ValueError if it is none."""
    if not all(hasattr(logic, m) for m in LOGIC_METHODS) and callable(logic):
        logic = logic()
    missing = [m for m in LOGIC_METHODS if not callable(getattr(logic, m, None))]
    if missing:
        raise ValueError(f'{logic!r} is not an annotator logic: it lacks {", ".join(missing)}')
    return logic


def run_from_cli(settings: Settings, logic: Any, name: str | None) -> int:
    """`loopnode annotator --logic pkg.module:name`: run until SIGTERM/SIGINT/restart; returns the exit code."""
    return run_logic_node('annotator', logic, wanted='an AnnotatorLogic',
                          example='loopnode.annotator:MockAnnotatorLogic',
                          resolve=resolve_logic,
                          build=lambda resolved: AnnotatorNode(resolved, name=name, settings=settings))
