"""The detector's Socket.IO API with python-socketio clients over loopback (detector.md §3, §12)."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import socketio

from loopnode.detector import DetectorNode
from tests.helpers import until

from .conftest import StartNode, item_json, jpeg_bytes, outbox_items, raw_image
from .logics import NoBatchFactory

SIO_PATH = '/ws/socket.io'


def connect(node: DetectorNode, **kw: Any) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(node.url, socketio_path=SIO_PATH, wait_timeout=10, **kw)
    return client


@pytest.fixture
def client(node: DetectorNode) -> Iterator[socketio.Client]:
    sio = connect(node)
    yield sio
    sio.disconnect()


def call(sio: socketio.Client, event: str, *data: Any) -> Any:
    return sio.call(event, data[0] if len(data) == 1 else data if data else None, timeout=10) \
        if len(data) <= 1 else sio.call(event, data, timeout=10)


def test_detect_raw_image_on_websocket(node: DetectorNode, client: socketio.Client) -> None:
    """D2: `detect` with a raw image dict → one detection of each kind, names and ids unchanged; WebSocket."""
    answer = client.call('detect', {'image': raw_image(), 'camera_id': 'robot-cam', 'tags': ['x']}, timeout=10)
    assert [d['category_id'] for kind in ('box_detections', 'point_detections', 'segmentation_detections',
                                          'classification_detections') for d in answer[kind]] == \
        ['some_id', 'some_id_2', 'some_id_3', 'some_id_4']
    assert answer['box_detections'][0]['category_name'] == 'some_category_name'
    assert answer['tags'] == ['x']
    assert answer['segmentation_detections'][0]['shape'] == {'points': [{'x': 1, 'y': 1}, {'x': 2, 'y': 2}]}
    assert node.relevance.camera_ids() == ['robot-cam']
    until(lambda: client.transport() == 'websocket', message='client upgraded to websocket')
    jpeg = client.call('detect', {'image': {'format': 'jpeg', 'bytes': jpeg_bytes()}, 'camera-id': 'c2',
                                  'tags': ' a, ,b ', 'created': '2025-06-01T10:00:00', 'source': 's'}, timeout=10)
    assert jpeg['tags'] == ['a', 'b'] and jpeg['created'] == '2025-06-01T10:00:00' and jpeg['source'] == 's'


def test_upload_image_only(start_node: StartNode, data_folder: Path) -> None:
    """D5: `upload` with only an image → {"status": "OK"}; exactly one item in the outbox."""
    node = start_node()
    sio = connect(node)
    try:
        assert sio.call('upload', {'image': raw_image()}, timeout=10) == {'status': 'OK'}
    finally:
        sio.disconnect()
    items = outbox_items(data_folder)
    assert len(items) == 1
    meta = item_json(items[0])
    assert meta['tags'] == ['picked_by_system'] and meta['created'] is not None


def test_upload_metadata_rules(start_node: StartNode, data_folder: Path) -> None:
    """F23: creation_date, state trash, float segmentation points and annotations → outbox JSON as in §3.4."""
    node = start_node()
    metadata = {'creation_date': '2025-06-01T10:00:00', 'state': 'trash', 'tags': ['t'],
                'segmentation_detections': [{'category_name': 'some_category_name_3', 'model_name': 'm',
                                             'confidence': 0.5, 'shape': {'points': [{'x': 1.4, 'y': 2.6}]}}],
                'box_detections': [{'category_name': 'some_category_name', 'x': 1.2, 'y': 2, 'width': 3,
                                    'height': 4, 'model_name': 'm', 'confidence': 0.3}],
                'box_annotations': [{'category_name': 'some_category_name', 'x': 0, 'y': 0, 'width': 5.7,
                                     'height': 5}],
                'point_annotations': [{'category_name': 'some_category_name_2', 'x': 1.5, 'y': 2.5}],
                'classification_annotation': {'category_name': 'some_category_name_4'}}
    sio = connect(node)
    try:
        ack = sio.call('upload', {'image': {'format': 'jpeg', 'bytes': jpeg_bytes()}, 'metadata': metadata,
                                  'upload_priority': True}, timeout=10)
    finally:
        sio.disconnect()
    assert ack == {'status': 'OK'}
    stored = item_json(outbox_items(data_folder, 'priority')[0])
    assert stored['created'] == '2025-06-01T10:00:00' and stored['state'] == 'trash'
    assert stored['segmentation_detections'][0]['shape'] == {'points': [{'x': 1, 'y': 3}]}
    assert stored['segmentation_detections'][0]['category_id'] == 'cat-seg'
    assert stored['box_detections'][0]['x'] == 1 and stored['box_detections'][0]['category_id'] == 'cat-box'
    assert stored['box_annotations'][0]['width'] == 6 and stored['box_annotations'][0]['category_id'] == 'cat-box'
    assert stored['point_annotations'][0]['category_id'] == 'cat-point'
    assert stored['classification_annotation']['category_id'] == 'cat-cls'
    assert stored['tags'] == ['t', 'picked_by_system']


def test_upload_errors(client: socketio.Client) -> None:
    assert 'could not parse image from data' in client.call('upload', {'metadata': {}}, timeout=10)['error']
    bad_meta = client.call('upload', {'image': raw_image(), 'metadata': {'box_detections': 'x'}}, timeout=10)
    assert bad_meta['error'].startswith('invalid metadata: box_detections')
    floats = {'bytes': np.zeros((2, 2), np.float32).tobytes(), 'dtype': 'float32', 'shape': [2, 2]}
    assert client.call('upload', {'image': floats}, timeout=10) == {
        'error': 'cannot store an image of dtype float32 as JPEG; send uint8'}


def test_bad_parameters_and_malformed_images_then_success(client: socketio.Client) -> None:
    """F3 (Socket.IO), F32 and every malformed payload: an error ack each, then a normal detection."""
    cases: list[tuple[Any, str]] = [
        ({'image': raw_image(), 'autoupload': 'maybe'},
         "invalid autoupload value 'maybe' (allowed: filtered, all, disabled)"),
        ({'image': raw_image(), 'creation_date': 'soon'}, "invalid creation_date 'soon'"),
        ({'image': {'bytes': b'\0' * 1000, 'dtype': 'uint8', 'shape': [480, 640, 3]}},
         'could not parse image from data: shape [480, 640, 3] of uint8 needs 921600 bytes, got 1000'),
        ({'image': {'bytes': b'\0' * 8, 'dtype': 'int64', 'shape': [1, 1]}},
         "could not parse image from data: dtype must be one of uint8, uint16, float32, got 'int64'"),
        ({'image': {'bytes': b'\0' * 16, 'dtype': 'uint8', 'shape': [2, 2, 2, 2]}},
         "could not parse image from data: 'shape' must have 2 or 3 dimensions"),
        ({'image': {'format': 'png', 'bytes': b'x'}}, "could not parse image from data: format must be 'raw' or"),
        ({'image': {'format': 'jpeg', 'bytes': b'not a jpeg'}}, 'could not parse image from data: not an image'),
        ({'image': {'format': 'jpeg', 'bytes': b''}}, 'could not parse image from data: empty file'),
        ({'image': 'a string'}, 'could not parse image from data: expected an image dict'),
        ({}, "could not parse image from data: missing 'image'"),
        ('just a string', 'detect expects a dict payload, got str'),
        (None, 'detect expects a dict payload, got NoneType'),
        ({'image': raw_image(), 'tags': 7}, 'tags must be a list of strings'),
    ]
    for payload, message in cases:
        answer = client.call('detect', payload, timeout=10)
        assert set(answer) == {'error'} and answer['error'].startswith(message), (payload, answer)
    batch = client.call('batch_detect', {'images': [raw_image(), {'format': 'gif', 'bytes': b''}]}, timeout=10)
    assert batch['error'].startswith("could not parse images from data: item 1: format must be 'raw' or 'jpeg'")
    assert 'images' in client.call('batch_detect', {'images': 'x'}, timeout=10)['error']
    assert client.call('detect', {'image': raw_image()}, timeout=10)['box_detections']


def test_batch_detect_falls_back_to_evaluate(start_node: StartNode) -> None:
    """F28: `batch_detect` on a logic without batch support returns `items` from per-image `evaluate`."""
    factory = NoBatchFactory()
    node = start_node(factory)
    sio = connect(node)
    try:
        answer = sio.call('batch_detect', {'images': [raw_image(4, 5), {'format': 'jpeg', 'bytes': jpeg_bytes(7, 6)},
                                                      raw_image(2, 3)], 'tags': 'b'}, timeout=10)
        empty = sio.call('batch_detect', {'images': []}, timeout=10)
    finally:
        sio.disconnect()
    assert [item['tags'] for item in answer['items']] == [['4x5', 'b'], ['6x7', 'b'], ['2x3', 'b']]
    assert factory.logics[0].calls == [(4, 5, 3), (6, 7, 3), (2, 3, 3)] and empty == {'items': []}


def test_socketio_answers_carry_shape_objects_rest_and_outbox_the_string(node: DetectorNode,
                                                                          client: socketio.Client,
                                                                          data_folder: Path) -> None:
    """Deliberate difference (docs/compatibility.md): `detect` and `batch_detect` answer segmentation shapes
    as `{"points": [...]}` (rosys parses only that); the outbox upload keeps the flattened string."""
    shape = {'points': [{'x': 1, 'y': 1}, {'x': 2, 'y': 2}]}
    assert client.call('set_outbox_mode', 'stopped', timeout=10) == {'status': 'OK'}  # keep the items to read
    batch = client.call('batch_detect', {'images': [raw_image(), raw_image()], 'autoupload': 'all'}, timeout=10)
    assert [item['segmentation_detections'][0]['shape'] for item in batch['items']] == [shape, shape]
    until(lambda: len(outbox_items(data_folder)) == 2, message='two autoupload items')
    assert [item_json(i)['segmentation_detections'][0]['shape'] for i in outbox_items(data_folder)] == \
        ['1,1,2,2', '1,1,2,2']


def test_information_events(node: DetectorNode, client: socketio.Client) -> None:
    info = client.call('info', timeout=10)
    assert info['version'] == '0.0' and Path(info['model_root_path']).is_absolute()
    about = client.call('about', 'ignored extra argument', timeout=10)
    assert about['version_control'] == 'pause' and about['model_info']['version'] == '0.0'
    assert client.call('get_model_version', timeout=10)['current_version'] == '0.0'
    assert client.call('get_outbox_mode', timeout=10) == {'outbox_mode': 'continuous_upload'}
    assert client.call('set_outbox_mode', 'stopped', timeout=10) == {'status': 'OK'}
    assert node.outbox.mode == 'stopped'
    assert client.call('set_outbox_mode', 'bogus', timeout=10) == {'error': "'bogus' is not a valid OutboxMode"}
    assert client.call('set_model_version_mode', '1.x', timeout=10) == {'error': 'Invalid version number'}
    assert client.call('set_model_version_mode', 'follow_loop', timeout=10) == {'status': 'OK'}
    assert client.call('set_model_version_mode', 5, timeout=10)['error'].startswith('expected a string')
    assert client.call('no_such_event', {'x': 1}, timeout=10) == {'error': "unknown event 'no_such_event'"}


def test_info_without_model(start_node: StartNode, tmp_path: Path) -> None:
    node = start_node(wait_active=False, data=tmp_path / 'empty')
    until(lambda: node.model_manager.startup_done.is_set())
    sio = connect(node)
    try:
        assert sio.call('info', timeout=10) == {'status': 'No model loaded'}
        assert sio.call('detect', {'image': raw_image()}, timeout=10) == {'error': 'detector not yet initialized'}
        assert sio.call('batch_detect', {'images': [{'format': 'png'}]}, timeout=10) == {
            'error': 'detector not yet initialized'}  # the model check comes before decoding
    finally:
        sio.disconnect()


def test_soft_reload(node: DetectorNode, client: socketio.Client, data_folder: Path) -> None:
    """F6: ack within 1 s, histories cleared, default version mode restored, model rebuilt, nothing deleted."""
    client.call('detect', {'image': raw_image(), 'camera_id': 'c'}, timeout=10)
    assert client.call('set_model_version_mode', '0.0', timeout=10) == {'status': 'OK'}
    assert node.model_manager.version_control == 'specific_version'
    node.set_operation_mode('detecting')
    files_before = model_files(data_folder)
    built_before = node.model_manager.slot.active_info
    ack = client.call('soft_reload', timeout=5)  # F6 says 1 s; 5 s for a loaded machine
    assert ack == {'status': 'OK'}
    assert node.relevance.camera_ids() == [] and node.operation_mode == 'idle'
    assert node.model_manager.version_control == 'pause'  # VERSION_CONTROL_DEFAULT of the fixture
    until(lambda: node.model_manager.slot.active_info is not built_before, message='model rebuilt')
    assert model_files(data_folder) == files_before


def model_files(data: Path) -> list[Any]:
    return [sorted(p.relative_to(data) for p in (data / 'models').rglob('*')), os.readlink(data / 'current_model'),
            (data / 'uuids.json').read_text()]


def test_client_set_is_empty_after_100_clients(node: DetectorNode) -> None:
    """F7: connect and disconnect 100 clients: the tracked client set is empty afterwards."""
    for _ in range(10):
        clients = [connect(node, transports=['websocket']) for _ in range(10)]
        until(lambda: len(node.sio_clients) >= len(clients))
        for sio in clients:
            sio.disconnect()
    until(lambda: len(node.sio_clients) == 0, message='every sid removed')


def test_token_protects_socketio(start_node: StartNode) -> None:
    """F33 (Socket.IO): a connect without `auth.token` (or with a wrong one) is refused."""
    node = start_node(NODE_API_TOKEN='s3cret')
    for auth in (None, {'token': 'wrong'}, {'other': 's3cret'}):
        with pytest.raises(socketio.exceptions.ConnectionError):
            connect(node, auth=auth)
    sio = connect(node, auth={'token': 's3cret'})
    try:
        assert sio.call('detect', {'image': raw_image()}, timeout=10)['box_detections']
    finally:
        sio.disconnect()


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='malloc_trim is glibc only')
def test_large_socketio_messages_lead_to_one_heap_trim(node: DetectorNode, client: socketio.Client) -> None:
    """Issue 16: a batch of large raw frames makes the heap-trim worker give freed memory back once the burst
    is over; small frames do not."""
    before = node.heap_trimmer.trims
    assert 'items' in client.call('batch_detect', {'images': [raw_image()] * 2}, timeout=10)
    assert node.heap_trimmer.due() is False  # small frames: nothing noted
    big = raw_image(480, 640)  # 921,600 bytes, above the 512 KiB threshold
    answer = client.call('batch_detect', {'images': [big, big], 'autoupload': 'disabled'}, timeout=10)
    assert len(answer['items']) == 2
    until(lambda: node.heap_trimmer.trims > before, timeout=10, message='heap trimmed after the burst')
