"""`loopnode demo --cycle`: the whole active-learning loop, step by step, over the same HTTP calls a person
would make with curl (see `guide.py`): detect and upload → annotate → train → convert → deploy → detect.

Each step logs its duration and a one-line result; the first failing step raises `CycleError` naming it.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import requests

from ..devloop import DEMO_ORG, DEMO_PROJECT
from ..devloop.seed import generated_images
from .nodes import DemoNodes

log = logging.getLogger(__name__)

T = TypeVar('T')
API = f'/api/{DEMO_ORG}/projects/{DEMO_PROJECT}'
ADMIN = f'/admin/{DEMO_ORG}/projects/{DEMO_PROJECT}'
FRESH_SEED = 777
TIMEOUT = (5.0, 30.0)


class CycleError(RuntimeError):
    """A step of the cycle failed; `step` names it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f'step "{step}" failed: {message}')
        self.step = step


@dataclass
class Cycle:
    """One run of the cycle against started demo nodes; `stop` ends the waits early."""

    demo: DemoNodes
    stop: threading.Event
    step_timeout: float = 45.0

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.loop = self.demo.loop_url

    # ---- helpers -----------------------------------------------------------------------------------------

    def _wait(self, step: str, what: str, probe: Callable[[], T | None], timeout: float | None = None) -> T:
        deadline = time.monotonic() + (timeout or self.step_timeout)
        last = ''
        while True:
            try:
                value = probe()
                if value:
                    return value
            except (requests.RequestException, KeyError, ValueError, TypeError) as e:
                last = f' (last: {type(e).__name__}: {e})'
            if time.monotonic() > deadline:
                raise CycleError(step, f'{what} did not happen within {timeout or self.step_timeout:.0f} s{last}')
            if self.stop.wait(0.2):
                raise CycleError(step, 'stopped')

    def _json(self, method: str, url: str, step: str, **kwargs: Any) -> Any:
        response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        if response.status_code != 200:
            raise CycleError(step, f'{method} {url} answered HTTP {response.status_code}: {response.text[:200]}')
        return response.json()

    def _node(self, node_type: str, step: str) -> Any:
        node = self.demo.nodes.get(node_type)
        if node is None:
            raise CycleError(step, f'the {node_type} is not running: {self.demo.missing.get(node_type, "?")}')
        return node

    def _detect(self, jpeg: bytes, step: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        detector = self._node('detector', step)
        return self._json('POST', detector.url + '/detect', step, files={'file': ('image.jpg', jpeg, 'image/jpeg')},
                          headers=headers or {})

    def _received(self) -> list[dict[str, Any]]:
        return self.session.get(self.loop + '/admin/received/images', timeout=TIMEOUT).json()['images']

    def _models(self) -> list[dict[str, Any]]:
        return self.session.get(self.loop + API + '/models', timeout=TIMEOUT).json()['models']

    # ---- the steps ---------------------------------------------------------------------------------------

    def run(self) -> str:
        """All steps in order; returns the new model version. Raises CycleError."""
        started = time.monotonic()
        steps: list[tuple[str, Callable[[], str]]] = [
            ('detector ready', self.detector_ready), ('detect and upload', self.detect_and_upload),
            ('annotate', self.annotate), ('begin training', self.begin_training),
            ('training', self.training), ('convert', self.convert), ('deploy', self.deploy),
            ('detect with the new model', self.detect_with_new_model)]
        self.versions_before = {m['version'] for m in self._models()}
        for k, (name, step) in enumerate(steps, 1):
            t0 = time.monotonic()
            detail = step()
            log.info('cycle %d/%d %-26s %5.1f s  %s', k, len(steps), name, time.monotonic() - t0, detail)
        log.info('cycle complete in %.1f s: the detector serves %s (color_blobs_lut)', time.monotonic() - started,
                 self.new_version)
        return self.new_version

    def detector_ready(self) -> str:
        detector = self._node('detector', 'detector ready')

        def serving() -> str | None:
            info = detector.model_manager.slot.active_info
            return info.version if info is not None and detector.readiness_reason() is None else None
        version = self._wait('detector ready', 'the detector serving a model', serving)
        return f'serves {version} in format color_blobs_lut'

    def detect_and_upload(self) -> str:
        step = 'detect and upload'
        categories = self.demo.loop.store.categories(DEMO_ORG, DEMO_PROJECT)  # type: ignore[union-attr]
        self.sample = generated_images(DEMO_ORG, DEMO_PROJECT, categories, {'inbox': 1}, seed=FRESH_SEED - 1)[0]
        before = len(self._received())
        body = self._detect(self.sample.jpeg, step, {'autoupload': 'all'})
        self.boxes = body['box_detections']
        if not self.boxes:
            raise CycleError(step, f'no box detected on the sample: {body}')

        def arrived() -> list[dict[str, Any]] | None:
            now = self._received()
            return now if len(now) > before else None
        images = self._wait(step, 'the upload reaching devloop', arrived)
        self.uploaded = images[-1]['id']
        return (f'{len(self.boxes)} boxes, {len(body["point_detections"])} points by model '
                f'{self.boxes[0]["model_name"]}; devloop received image {self.uploaded}')

    def annotate(self) -> str:
        step = 'annotate'
        self._node('annotator', step)
        box = self.boxes[0]
        x, y = int(box['x'] + box['width'] / 2), int(box['y'] + box['height'] / 2)
        url = self.loop + '/admin/annotators/any/handle_user_input'
        for event, at in (('left_mouse_down', (x, y)), ('mouse_move', (x + 3, y)), ('left_mouse_up', (x + 3, y))):
            ack = self._json('POST', url, step, json={'event_type': event, 'x': at[0], 'y': at[1],
                                                      'image_uuid': self.uploaded})['ack']
            if not ack.get('success'):
                raise CycleError(step, f'{event}: {ack}')
        records = self._wait(step, 'the segmentation reaching devloop', lambda: [
            r for r in self.session.get(self.loop + '/admin/annotators/annotations', timeout=TIMEOUT)
            .json()['annotations'] if r['payload']['payload']['image_id'] == self.uploaded])
        points = records[-1]['payload']['payload']['shape']['points']
        return f'magic wand at ({x}, {y}): a segmentation of {len(points)} points'

    def begin_training(self) -> str:
        step = 'begin training'
        trainer = self._node('trainer', step)
        self._wait(step, 'the trainer connecting', lambda: any(
            n['uuid'] == trainer.uuid for n in self.session.get(self.loop + '/admin/nodes', timeout=TIMEOUT)
            .json()['nodes']))
        ack = self._json('POST', f'{self.loop}/admin/trainers/{trainer.uuid}/begin_training', step, json={})['ack']
        if not ack.get('success'):
            raise CycleError(step, f'refused: {ack}')
        return f'trainer {trainer.uuid} acknowledged'

    def training(self) -> str:
        step = 'training'
        trainer = self._node('trainer', step)
        seen: list[str] = []

        def new_model() -> dict[str, Any] | None:
            state = trainer.status_record()['state']
            if not seen or seen[-1] != state:
                seen.append(state)
            return next((m for m in self._models() if m['version'] not in self.versions_before), None)
        model = self._wait(step, 'a new model version', new_model)
        self.new_version, self.new_id = model['version'], model['id']
        return f'states {" → ".join(seen)}; new version {self.new_version} ({", ".join(model["formats"])})'

    def convert(self) -> str:
        formats = self._wait('convert', 'format color_blobs_lut of the new version', lambda: next(
            (m['formats'] for m in self._models() if m['id'] == self.new_id and 'color_blobs_lut' in m['formats']),
            None))
        return f'{self.new_version} has formats {", ".join(formats)}'

    def deploy(self) -> str:
        self._json('PUT', self.loop + ADMIN + '/deployment/target', 'deploy', json={'model_uuid': self.new_id})
        return f'deployment target = {self.new_version}'

    def detect_with_new_model(self) -> str:
        from ..data import ImageMetadata
        from ..examples.color_detector.accuracy import Tally, tally_image
        from ..examples.color_detector.fit import Sample, decode_rgb

        step = 'detect with the new model'
        categories = self.demo.loop.store.categories(DEMO_ORG, DEMO_PROJECT)  # type: ignore[union-attr]
        fresh = generated_images(DEMO_ORG, DEMO_PROJECT, categories, {'inbox': 1}, seed=FRESH_SEED)[0]

        def answer() -> dict[str, Any] | None:
            body = self._detect(fresh.jpeg, step)
            names = {d['model_name'] for d in body['box_detections'] + body['point_detections']}
            return body if names == {self.new_version} else None
        body = self._wait(step, f'the detector answering with model {self.new_version}', answer)
        sample = Sample(decode_rgb(fresh.jpeg),
                        [(b['category_id'], b['x'], b['y'], b['width'], b['height'])
                         for b in fresh.annotations['box_annotations']],
                        [(p['category_id'], p['x'], p['y']) for p in fresh.annotations['point_annotations']])
        boxes, points = Tally(), Tally()
        tally_image(sample, ImageMetadata.from_dict(body), boxes, points)
        if boxes.fp or boxes.fn or points.fp or points.fn:
            raise CycleError(step, f'wrong detections on a fresh image: boxes {boxes}, points {points}')
        return (f'model {self.new_version}: {boxes.tp} boxes and {points.tp} points, all matching the image\'s '
                f'{len(sample.boxes)} + {len(sample.points)} shapes')
