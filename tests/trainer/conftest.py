"""Fixtures of the trainer tests: a TrainerNode with a logic against devloop, and helpers that drive it."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from loopnode.devloop import DevLoop
from loopnode.settings import Settings
from loopnode.trainer.logic import TrainerLogicGeneric
from loopnode.trainer.mock import MockTrainerLogic
from loopnode.trainer.node import TrainerNode
from tests.fixtures_devloop import devloop  # noqa: F401 - shared fixture
from tests.helpers import until

DEMO = '/api/zauberzeug/projects/demo'
FAST_SOCKET = {'base_delay': 0.2, 'max_delay': 1.0}


def trainer_settings(data: Path, url: str, **env: str) -> Settings:
    values = {'DATA_FOLDER': str(data), 'NODE_PORT': '0', 'LOOP_HOST': url, 'LOOP_POLL_INTERVAL': '0.2',
              'SHUTDOWN_GRACE_SEC': '5', **env}
    return Settings.from_env(values, node_type='trainer')


class Harness:
    """Builds trainer nodes for one test and stops whatever is still running at the end."""

    def __init__(self, tmp_path: Path, loop: DevLoop) -> None:
        self.tmp_path = tmp_path
        self.loop = loop
        self.nodes: list[TrainerNode] = []

    def node(self, logic: TrainerLogicGeneric | None = None, *, data: Path | None = None, start: bool = True,
             url: str | None = None, name: str = 'test trainer', **kwargs: Any) -> TrainerNode:
        env = {k.upper(): str(v) for k, v in kwargs.pop('env', {}).items()}
        settings = trainer_settings(data or self.tmp_path / 'trainer', url or self.loop.url, **env)
        node = TrainerNode(logic or MockTrainerLogic(), name=name, settings=settings,
                           socket_options=FAST_SOCKET, **kwargs)
        self.nodes.append(node)
        if start:
            node.start()
        return node

    def connected(self, node: TrainerNode) -> TrainerNode:
        until(lambda: node.loop_connected() and self.node_listed(node), timeout=10, message='trainer connected')
        return node

    def node_listed(self, node: TrainerNode) -> bool:
        nodes = requests.get(f'{self.loop.url}/admin/nodes', timeout=5).json()['nodes']
        return any(n['uuid'] == node.uuid for n in nodes)

    def command(self, node: TrainerNode, command: str, body: dict[str, Any] | None = None,
                **query: str) -> dict[str, Any]:
        """devloop admin → the node; returns the node's ack."""
        response = requests.post(f'{self.loop.url}/admin/trainers/{node.uuid}/{command}', json=body or {},
                                 params=query, timeout=40)
        assert response.status_code == 200, response.text
        return response.json()['ack']

    def begin(self, node: TrainerNode, **details: Any) -> dict[str, Any]:
        self.connected(node)
        ack = self.command(node, 'begin_training', details)
        assert ack == {'success': True, 'error_msg': None, 'payload': None}, ack
        return ack

    def stop_all(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture
def harness(tmp_path: Path, devloop: DevLoop) -> Iterator[Harness]:  # noqa: F811 - the shared fixture
    h = Harness(tmp_path, devloop)
    yield h
    h.stop_all()


def state_of(node: TrainerNode) -> str:
    return node.controller.status_fields()['state']


def wait_state(node: TrainerNode, *states: str, timeout: float = 15.0) -> str:
    return until(lambda: state_of(node) if state_of(node) in states else None, timeout=timeout,
                 message=f'state in {states} (now {state_of(node)})')


def wait_executor(node: TrainerNode, timeout: float = 10.0) -> None:
    """Until the training process runs (the state says `running` a moment before it starts)."""
    until(lambda: node.logic._executor is not None and node.logic._executor.is_running(), timeout=timeout,
          message='training process running')


def admin_get(loop: DevLoop, path: str) -> Any:
    return requests.get(f'{loop.url}/admin{path}', timeout=10).json()


def model_uploads(loop: DevLoop) -> list[dict[str, Any]]:
    return [r['payload'] for r in admin_get(loop, '/trainings')['model_uploads']]


def posted_detections(loop: DevLoop) -> list[dict[str, Any]]:
    return admin_get(loop, '/received/detections')['detections']


def add_fault(loop: DevLoop, **rule: Any) -> int:
    response = requests.post(f'{loop.url}/admin/faults', json=rule, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()['id']


def disk_equals_memory(node: TrainerNode) -> bool:
    active = node.controller.active
    stored = node.controller.record_file.load()
    return active is not None and stored is not None and stored.to_dict() == active.training.to_dict()


Cond = Callable[[], Any]


def emit(loop: DevLoop, node: TrainerNode, event: str, *args: Any) -> Any:
    response = requests.post(f'{loop.url}/admin/nodes/{node.uuid}/emit', json={'event': event, 'args': list(args)},
                             timeout=40)
    assert response.status_code == 200, response.text
    return response.json()['ack']


def demo_details(loop: DevLoop, **overrides: Any) -> dict[str, Any]:
    categories = requests.get(f'{loop.url}/api/zauberzeug/projects/demo', timeout=5).json()['categories']
    return {'categories': categories, 'training_number': 5, 'model_variant': 'small',
            'hyperparameters': {'resolution': 320}, **overrides}


def seed_record(harness: Harness, node_uuid: str, state: str, *, data: Path | None = None, project: str = 'demo',
                files: dict[str, str] | None = None, **fields: Any) -> Path:
    """Write a last-training file as a trainer would have left it (to start a node at a given state)."""
    import json
    import time
    import uuid as uuidlib
    data = data or harness.tmp_path / 'trainer'
    training_id = str(uuidlib.uuid4())
    project_folder = data / 'zauberzeug' / project
    training_folder = project_folder / 'trainings' / training_id
    training_folder.mkdir(parents=True, exist_ok=True)
    for name, content in (files or {}).items():  # before the record: a running node may resume it at once
        (training_folder / name).write_text(content)
    record = {'id': training_id, 'context': {'organization': 'zauberzeug', 'project': project},
              'project_folder': str(project_folder), 'images_folder': str(project_folder / 'images'),
              'training_folder': str(training_folder), 'categories': demo_details(harness.loop)['categories'],
              'hyperparameters': {'resolution': 320}, 'training_number': 1, 'training_state': state,
              'model_variant': 'small', 'start_time': time.time(), 'base_model_uuid': None, 'image_data': [],
              'skipped_image_count': 0, 'model_uuid_for_detecting': None, **fields}
    path = data / f'last_training__{node_uuid}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return training_folder
