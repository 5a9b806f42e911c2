"""The magic wand as a real AnnotatorNode against devloop: a click, a drag and a release on one of devloop's
images produce path previews and one segmentation annotation (<= 100 points) around the clicked shape."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from loopnode.annotator import AnnotatorNode
from loopnode.devloop import DevLoop
from loopnode.examples.color_annotator.logic import MagicWandLogic
from loopnode.settings import Settings
from tests.fixtures_devloop import devloop  # noqa: F401 - shared fixture
from tests.helpers import until

API = '/api/zauberzeug/projects/demo'


@pytest.fixture
def wand_node(tmp_path: Path, devloop: DevLoop) -> Iterator[AnnotatorNode]:  # noqa: F811
    settings = Settings.from_env({'DATA_FOLDER': str(tmp_path / 'annotator'), 'NODE_PORT': '0',
                                  'LOOP_HOST': devloop.url, 'LOOP_POLL_INTERVAL': '0.2'}, node_type='annotator')
    node = AnnotatorNode(MagicWandLogic(), name='magic wand', settings=settings)
    node.start()
    try:
        until(lambda: requests.get(f'{devloop.url}/admin/annotators', timeout=5).json()['connected'], timeout=15,
              message='annotator connected')
        yield node
    finally:
        node.stop()


def first_box(loop: DevLoop) -> tuple[str, dict[str, Any]]:
    """An image of the demo project with a box annotation, and that box."""
    ids = requests.get(f'{loop.url}{API}/data', params={'state': 'complete'}, timeout=5).json()['image_ids']
    images = requests.get(f'{loop.url}{API}/images', params={'ids': ','.join(ids)}, timeout=5).json()['images']
    image = next(i for i in images if i['box_annotations'])
    return image['id'], image['box_annotations'][0]


def send(loop: DevLoop, **body: Any) -> dict[str, Any]:
    response = requests.post(f'{loop.url}/admin/annotators/any/handle_user_input', json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()['ack']


def test_click_drag_release_sends_a_segmentation_of_the_clicked_shape(devloop: DevLoop,  # noqa: F811
                                                                      wand_node: AnnotatorNode) -> None:
    """Issue 14: click → SVG path preview, move → a path again, release → '' and one
    update_segmentation_annotation for the event's category whose polygon (<= 100 points) hugs the box."""
    image_id, box = first_box(devloop)
    cx, cy = box['x'] + box['width'] // 2, box['y'] + box['height'] // 2
    down = send(devloop, event_type='left_mouse_down', x=cx, y=cy, image_uuid=image_id)
    assert down['success'] and down['payload'].startswith('<path d="M '), down
    moved = send(devloop, event_type='mouse_move', x=cx + 4, y=cy, image_uuid=image_id)
    assert moved['success'] and moved['payload'].startswith('<path'), moved
    up = send(devloop, event_type='left_mouse_up', x=cx + 4, y=cy, image_uuid=image_id)
    assert up == {'success': True, 'error_msg': None, 'payload': ''}
    records = until(lambda: requests.get(f'{devloop.url}/admin/annotators/annotations', timeout=5)
                    .json()['annotations'], timeout=10, message='annotation received')
    [record] = records
    annotation = record['payload']['payload']
    points = annotation['shape']['points']
    assert 3 <= len(points) <= 100 and annotation['image_id'] == image_id
    xs, ys = [p['x'] for p in points], [p['y'] for p in points]
    assert box['x'] - 3 <= min(xs) and max(xs) <= box['x'] + box['width'] + 3
    assert box['y'] - 3 <= min(ys) and max(ys) <= box['y'] + box['height'] + 3
    assert max(xs) - min(xs) > 0.8 * box['width']


def test_escape_cancels_the_gesture(devloop: DevLoop, wand_node: AnnotatorNode) -> None:  # noqa: F811
    """Escape after a click: the release commits nothing (empty preview, no annotation)."""
    image_id, box = first_box(devloop)
    cx, cy = box['x'] + box['width'] // 2, box['y'] + box['height'] // 2
    assert send(devloop, event_type='left_mouse_down', x=cx, y=cy, image_uuid=image_id)['success']
    assert send(devloop, event_type='key_up', key_up='Escape', x=cx, y=cy, image_uuid=image_id)['payload'] == ''
    assert send(devloop, event_type='left_mouse_up', x=cx, y=cy, image_uuid=image_id)['payload'] == ''
    assert requests.get(f'{devloop.url}/admin/annotators/annotations', timeout=5).json()['annotations'] == []
