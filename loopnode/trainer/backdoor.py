"""Backdoor REST controls for tests (trainer.md §11), mounted only with USE_BACKDOOR_CONTROLS."""
from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from flask import Flask, jsonify, request

from ..service.routes import error_response, text_body
from .controller import TrainingController
from .logic import TrainerLogic, TrainerLogicGeneric
from .mock import ErrorConfiguration
from .steps import State

log = logging.getLogger(__name__)


class BackdoorNode(Protocol):
    """What the routes need of the TrainerNode."""

    app: Flask
    controller: TrainingController
    logic: TrainerLogicGeneric

    def send_status(self) -> bool: ...

    def on_loop_socket(self, on: bool) -> None: ...


def register_backdoor_routes(node: BackdoorNode) -> None:
    app, controller = node.app, node.controller

    @app.put('/provide_new_model')
    def provide_new_model() -> Any:
        value = text_body()
        if value not in ('on', 'off'):
            return error_response(400, f"expected 'on' or 'off', got {value!r}")
        if not hasattr(node.logic, 'provide_new_model'):
            return error_response(400, 'the logic has no provide_new_model flag')
        node.logic.provide_new_model = value == 'on'  # type: ignore[attr-defined]
        return jsonify(value)

    @app.post('/reset')
    def reset() -> Any:
        controller.reset()
        node.on_loop_socket(True)
        node.send_status()
        return jsonify({'detail': 'reset'})

    @app.put('/error_configuration')
    def error_configuration() -> Any:
        if not hasattr(node.logic, 'error_configuration'):
            return error_response(400, 'the logic has no error configuration')
        try:
            config = ErrorConfiguration.from_dict(json.loads(request.get_data(as_text=True) or '{}'))
        except ValueError as e:
            return error_response(400, str(e))
        node.logic.error_configuration = config  # type: ignore[attr-defined]
        return jsonify(config.__dict__)

    def running_executor() -> bool:
        active = controller.active
        logic = node.logic
        return (active is not None and active.state is State.TrainingRunning and isinstance(logic, TrainerLogic)
                and logic._executor is not None and logic._executor.is_running())

    @app.post('/steps')
    def steps() -> Any:
        try:
            count = int(text_body())
        except ValueError:
            return error_response(400, 'expected an integer number of steps')
        if not running_executor():
            return error_response(409, 'trainer is not running')
        logic = node.logic
        previous = getattr(logic, 'provide_new_model', None)
        if previous is not None:
            logic.provide_new_model = True  # type: ignore[attr-defined]
        try:
            for _ in range(max(0, count)):
                logic._sync_training()
        finally:
            if previous is not None:
                logic.provide_new_model = previous  # type: ignore[attr-defined]
        node.send_status()
        return jsonify({'steps': count})

    @app.post('/kill_training_process')
    def kill_training_process() -> Any:
        if not running_executor():
            return error_response(409, 'trainer is not running')
        return jsonify(controller.stop_training().to_dict())

    @app.post('/force_status_update')
    def force_status_update() -> Any:
        return jsonify({'sent': node.send_status()})
