"""The detector's REST API over real TCP connections (detector.md §2, §12)."""
from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path

import pytest
import requests

from loopnode.data import ModelInformation
from loopnode.detector import DetectorNode, MockDetectorFactory
from loopnode.detector.logic import MockDetectorLogic
from loopnode.devloop import DevLoop
from tests.helpers import until

from .conftest import (StartNode, detect_rest, item_json, jpeg_bytes, outbox_items, png_bytes, write_model)
from .logics import BoxPointFactory, CachedResultFactory, RaisingFactory, WrongResultFactory

MOCK_NAMES = [('some_category_name', 'some_id'), ('some_category_name_2', 'some_id_2'),
              ('some_category_name_3', 'some_id_3'), ('some_category_name_4', 'some_id_4')]


def names_and_ids(answer: dict) -> list[tuple[str, str]]:
    kinds = ('box_detections', 'point_detections', 'segmentation_detections', 'classification_detections')
    return [(d['category_name'], d['category_id']) for kind in kinds for d in answer[kind]]


@pytest.mark.parametrize('header', ['camera_id', 'camera-id', 'mac'])
def test_detect_with_each_camera_header(node: DetectorNode, header: str) -> None:
    """D3: multipart `file` + camera header (camera_id, camera-id, mac) → 200, the logic's detections."""
    response = detect_rest(node, headers={header: f'cam {header}'})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert names_and_ids(answer) == MOCK_NAMES
    assert answer['box_detections'][0] == {'category_name': 'some_category_name', 'x': 1, 'y': 2, 'width': 4,
                                           'height': 3, 'model_name': '0.0', 'confidence': 0.42,
                                           'category_id': 'some_id'}
    assert answer['segmentation_detections'][0]['shape'] == '1,1,2,2'
    assert node.relevance.camera_ids() == [f'cam {header}']


def test_underscore_headers_reach_the_node_over_tcp(node: DetectorNode) -> None:
    """F1: `camera_id` and `creation_date` (and `creation-date`) survive a real TCP connection."""
    conn = http.client.HTTPConnection('127.0.0.1', node.port, timeout=10)
    body, content_type = _multipart(jpeg_bytes())
    conn.request('POST', '/detect', body=body, headers={'Content-Type': content_type, 'camera_id': 'tcp-cam',
                                                        'creation_date': '2025-06-01T10:00:00', 'tags': 'a'})
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    assert response.status == 200 and answer['created'] == '2025-06-01T10:00:00' and answer['tags'] == ['a']
    assert node.relevance.camera_ids() == ['tcp-cam']
    hyphen = detect_rest(node, headers={'creation-date': '2025-06-02 08:00:00'}).json()
    assert hyphen['created'] == '2025-06-02 08:00:00'
    query = detect_rest(node, params={'creation_date': '2025-06-03', 'source': 'q', 'camera_id': 'qcam'},
                        headers={'source': 'header wins'}).json()
    assert query['created'] == '2025-06-03' and query['source'] == 'header wins'
    assert 'qcam' in node.relevance.camera_ids()


def _multipart(data: bytes, field: str = 'file') -> tuple[bytes, str]:
    boundary = 'loopnodeboundary'
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="a.jpg"\r\n'
            'Content-Type: image/jpeg\r\n\r\n').encode() + data + f'\r\n--{boundary}--\r\n'.encode()
    return body, f'multipart/form-data; boundary={boundary}'


def test_tags_source_and_bad_parameters(node: DetectorNode) -> None:
    """F2, F3 (REST): tags trimmed; `autoupload: maybe` and a bad date → 400 naming the problem."""
    answer = detect_rest(node, headers={'source': 'robot-7', 'autoupload': 'disabled'},
                         params={'tags': ' a, ,b '}).json()
    assert answer['tags'] == ['a', 'b'] and answer['source'] == 'robot-7' and answer['created'] is None
    bad = detect_rest(node, headers={'autoupload': 'maybe'})
    assert bad.status_code == 400
    assert bad.json()['error'] == "invalid autoupload value 'maybe' (allowed: filtered, all, disabled)"
    assert bad.json()['detail'] == bad.json()['error']
    date = detect_rest(node, headers={'creation_date': 'yesterday'})
    assert date.status_code == 400 and date.json()['error'].startswith("invalid creation_date 'yesterday'")


def test_detect_errors(start_node: StartNode, tmp_path: Path) -> None:
    """F4: garbage → 400; no model → 503 `detector not yet initialized`; a raising logic → 500 with its text."""
    empty = start_node(wait_active=False, data=tmp_path / 'empty')
    until(lambda: empty.model_manager.startup_done.is_set())
    no_model = detect_rest(empty)
    assert no_model.status_code == 503 and no_model.json()['error'] == 'detector not yet initialized'
    assert requests.get(empty.url + '/readyz', timeout=5).json() == {'status': 'not ready', 'reason': 'no model'}
    raising = start_node(RaisingFactory(), data=tmp_path / 'raising', **_with_model(tmp_path / 'raising'))
    broken = detect_rest(raising)
    assert broken.status_code == 500 and broken.json()['error'] == 'the logic broke'
    garbage = detect_rest(raising, image=b'garbage')
    assert garbage.status_code == 400
    assert garbage.json()['error'] == "could not decode image 'image.jpg': not an image format Pillow can read"
    wrong = start_node(WrongResultFactory(), data=tmp_path / 'wrong', **_with_model(tmp_path / 'wrong'))
    answer = detect_rest(wrong)
    assert answer.status_code == 500 and 'not an ImageMetadata' in answer.json()['error']


def _with_model(data: Path) -> dict[str, str]:
    write_model(data)
    return {}


def test_malformed_requests_then_a_detection_succeeds(node: DetectorNode) -> None:
    """Malformed input of every kind over REST gets a 4xx with an error, and the node keeps serving."""
    url = node.url + '/detect'
    cases = [
        requests.post(url, timeout=10),
        requests.post(url, data=b'{"image": 1}', headers={'Content-Type': 'application/json'}, timeout=10),
        requests.post(url, files={'image': ('a.jpg', jpeg_bytes())}, timeout=10),
        requests.post(url, files={'file': ('a.jpg', b'')}, timeout=10),
        requests.post(url, files={'file': ('a.jpg', jpeg_bytes()[:300])}, timeout=10),
        requests.post(url, files={'file': ('a.png', png_bytes()[:-20])}, timeout=10),
        requests.post(url, files={'file': ('a.jpg', jpeg_bytes())}, headers={'autoupload': 'yes'}, timeout=10),
        requests.post(url, data=b'--x\r\nbroken', timeout=10,
                      headers={'Content-Type': 'multipart/form-data; boundary=x'}),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, response.text
        assert response.json()['error']
    assert detect_rest(node).status_code == 200


def test_decompression_bomb_is_refused(start_node: StartNode) -> None:
    node = start_node(MAX_IMAGE_PIXELS='10000')
    response = detect_rest(node, image=jpeg_bytes(200, 100))
    assert response.status_code == 400 and 'exceeds the limit of 10000 pixels' in response.json()['error']
    assert detect_rest(node, image=jpeg_bytes(100, 100)).status_code == 200


def test_body_over_64_mib_is_refused_with_413(node: DetectorNode) -> None:
    conn = http.client.HTTPConnection('127.0.0.1', node.port, timeout=10)
    conn.putrequest('POST', '/detect')
    conn.putheader('Content-Type', 'multipart/form-data; boundary=x')
    conn.putheader('Content-Length', str(64 * 1024 * 1024 + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and json.loads(response.read())['error'] == 'request body larger than 64 MiB'
    conn.close()
    assert detect_rest(node).status_code == 200


def test_empty_logic_result(start_node: StartNode) -> None:
    """D17: a logic with nothing to report gives empty lists, `tags == []` and the key `created`."""
    answer = detect_rest(start_node(MockDetectorFactory(empty=True))).json()
    assert answer == {'box_detections': [], 'point_detections': [], 'segmentation_detections': [],
                      'classification_detections': [], 'box_annotations': [], 'point_annotations': [],
                      'classification_annotation': None, 'tags': [], 'created': None, 'source': None, 'state': None}


def test_cached_logic_result_is_never_mutated(start_node: StartNode) -> None:
    """F10: the same cached ImageMetadata for 10 calls: tags do not accumulate, the object is unchanged."""
    factory = CachedResultFactory()
    node = start_node(factory)
    for _ in range(10):
        answer = detect_rest(node, headers={'tags': 'mine', 'autoupload': 'all'}).json()
        assert answer['tags'] == ['cached', 'mine'] and answer['box_detections'][0]['x'] == 2
    assert factory.logic.result.tags == ['cached'] and factory.logic.result.box_detections[0].x == 1.6


def test_autoupload_modes(start_node: StartNode, data_folder: Path) -> None:
    """D9: `filtered` without cause queues nothing, `all` queues exactly the answer, `disabled` does neither."""
    node = start_node(BoxPointFactory(confidence=0.9))
    filtered = detect_rest(node, headers={'camera_id': 'c', 'autoupload': 'filtered'}).json()
    assert filtered['tags'] == [] and node.relevance.observation_count('c') == 2
    disabled = detect_rest(node, headers={'camera_id': 'd', 'autoupload': 'disabled'})
    assert disabled.status_code == 200 and node.relevance.observation_count('d') == 0
    answer = detect_rest(node, headers={'autoupload': 'all', 'tags': 't', 'source': 's'}).json()
    items = until(lambda: outbox_items(data_folder))
    assert len(items) == 1  # the save queue is FIFO: nothing from the calls before
    assert item_json(items[0]) == answer


def test_filtered_autoupload_stores_only_new_uncertain_images(start_node: StartNode, data_folder: Path) -> None:
    """D11: two identical detections at 0.42 from one camera: `filtered` stores the first only, `all` both."""
    node = start_node(BoxPointFactory(confidence=0.42))
    first = detect_rest(node, headers={'camera_id': 'cam'}).json()
    assert first['tags'] == []  # the causes go only to the stored copy
    stored = until(lambda: outbox_items(data_folder))
    assert item_json(stored[0])['tags'] == ['uncertain']
    detect_rest(node, headers={'camera_id': 'cam'})
    detect_rest(node, headers={'camera_id': 'cam', 'autoupload': 'all'})
    detect_rest(node, headers={'camera_id': 'cam', 'autoupload': 'all'})
    items = until(lambda: len(outbox_items(data_folder)) == 3 and outbox_items(data_folder))
    assert [item_json(i)['tags'] for i in items] == [['uncertain'], [], []]


def test_upload_single_jpeg(start_node: StartNode, data_folder: Path) -> None:
    """D4: empty outbox → POST /upload with one JPEG → 200 → exactly one item (.jpg + .json)."""
    node = start_node()
    assert outbox_items(data_folder) == []
    data = jpeg_bytes()
    response = requests.post(node.url + '/upload', files=[('files', ('a.jpg', data, 'image/jpeg'))], timeout=10)
    assert response.status_code == 200 and response.json() == {'status': 'OK', 'count': 1}
    items = outbox_items(data_folder)
    assert len(items) == 1 and sorted(p.suffix or p.name for p in items[0].iterdir()) == ['.explicit', '.jpg',
                                                                                           '.json']
    assert next(items[0].glob('*.jpg')).read_bytes() == data
    assert item_json(items[0])['tags'] == ['picked_by_system']


def test_upload_parameters_formats_and_errors(start_node: StartNode, data_folder: Path) -> None:
    """F5: query and header parameters, count, byte-identical JPEG, PNG → JPEG, undecodable → 400, none stored."""
    node = start_node()
    url = node.url + '/upload'
    jpeg = jpeg_bytes(30, 20)
    files = [('files', ('a.jpg', jpeg, 'image/jpeg')), ('files', ('b.png', png_bytes(), 'image/png'))]
    response = requests.post(url, files=files, timeout=10, params={
        'source': 'query', 'creation_date': '2025-06-01T10:00:00', 'upload_priority': 'true', 'tags': 'x, y',
        'state': 'trash'}, headers={'source': 'header loses'})
    assert response.json() == {'status': 'OK', 'count': 2}
    items = outbox_items(data_folder, 'priority')
    assert len(items) == 2 and outbox_items(data_folder) == []
    assert next(items[0].glob('*.jpg')).read_bytes() == jpeg
    assert next(items[1].glob('*.jpg')).read_bytes()[:2] == b'\xff\xd8'
    meta = item_json(items[0])
    assert (meta['source'], meta['created'], meta['state'], meta['tags']) == (
        'query', '2025-06-01T10:00:00', 'trash', ['x', 'y', 'picked_by_system'])
    headers = requests.post(url, files=[('files', ('a.jpg', jpeg))], timeout=10,
                            headers={'source': 'h', 'creation-date': '2025-06-02', 'upload_priority': 'no'})
    assert headers.status_code == 200
    normal = outbox_items(data_folder)
    assert len(normal) == 1 and item_json(normal[0])['source'] == 'h' and item_json(normal[0])['created'] == '2025-06-02'
    bad = requests.post(url, files=[('files', ('ok.jpg', jpeg)), ('files', ('bad.jpg', b'nope'))], timeout=10)
    assert bad.status_code == 400 and "could not decode image 'bad.jpg'" in bad.json()['error']
    assert requests.post(url, timeout=10).status_code == 400
    assert requests.post(url, files=[('files', ('a.jpg', jpeg))], params={'upload_priority': 'maybe'},
                         timeout=10).status_code == 400
    assert len(outbox_items(data_folder)) == 1 and len(outbox_items(data_folder, 'priority')) == 2


def test_outbox_mode_switches(node: DetectorNode) -> None:
    """D8: stopped → GET stopped; continuous_upload → continuous_upload; stopped again; bad value → 422."""
    url = node.url + '/outbox_mode'
    for mode in ('stopped', 'continuous_upload', 'stopped'):
        put = requests.put(url, data=mode, timeout=5)
        assert put.status_code == 200 and put.json() == 'OK'
        get = requests.get(url, timeout=5)
        assert get.text == mode and get.headers['Content-Type'].startswith('text/plain')
    bad = requests.put(url, data='sideways', timeout=5)
    assert bad.status_code == 422
    assert bad.json()['error'] == "Could not set outbox mode: 'sideways' is not a valid OutboxMode"


def test_operation_mode(node: DetectorNode) -> None:
    url = node.url + '/operation_mode'
    until(lambda: requests.get(url, timeout=5).text == 'idle', timeout=10)  # the startup worker sets idle after load
    assert requests.put(url, data='"detecting"', timeout=5).json() == 'OK'
    assert requests.get(url, timeout=5).text == 'detecting'
    assert requests.get(node.url + '/about', timeout=5).json()['operation_mode'] == 'detecting'
    bad = requests.put(url, data='sleeping', timeout=5)
    assert bad.status_code == 422 and bad.json()['error'] == "'sleeping' is not a valid OperationMode"


def test_model_version_validation(node: DetectorNode) -> None:
    """F18: `1.x.y` and `bogus` → 400 with the mode unchanged; a quoted "pause" works."""
    url = node.url + '/model_version'
    assert requests.put(url, data='follow_loop', timeout=10).json() == 'OK'
    for bad in ('1.x.y', 'bogus'):
        response = requests.put(url, data=bad, timeout=10)
        assert response.status_code == 400 and response.json()['error'] == 'Invalid version number'
        assert requests.get(url, timeout=5).json()['version_control'] == 'follow_loop'
    assert requests.put(url, data='"pause"', timeout=10).json() == 'OK'
    version = requests.get(url, timeout=5).json()
    assert version['version_control'] == 'pause' and set(version) == {
        'current_version', 'target_version', 'loop_version', 'local_versions', 'version_control'}


def test_about_readyz_status_and_soft_reload(node: DetectorNode) -> None:
    about = requests.get(node.url + '/about', timeout=5).json()
    assert list(about) == ['operation_mode', 'state', 'model_info', 'target_model', 'version_control', 'errors']
    assert about['state'] == 'online' and about['model_info']['version'] == '0.0'
    assert Path(about['model_info']['model_root_path']).is_absolute()
    assert requests.get(node.url + '/readyz', timeout=5).json() == {'status': 'ready', 'model_version': '0.0'}
    status = requests.get(node.url + '/status', timeout=5).json()
    assert set(status['model']) == {'state', 'active_version', 'target', 'version_control', 'loop_target',
                                    'last_error', 'skipped_versions'}
    assert set(status['outbox']) == {'mode', 'normal', 'priority', 'rejected', 'uploaded', 'dropped_cap',
                                     'refused_disk', 'rejected_422', 'rejected_incomplete', 'skipped_unencodable',
                                     'dropped_busy', 'failed_attempts', 'last_error', 'free_mb', 'backlog',
                                     'dropped_by_class', 'drain_rate', 'drain_estimate_s'}
    assert status['node']['uuid'] == node.uuid and status['node']['model_format'] == 'mocked'
    assert requests.post(node.url + '/soft_reload', timeout=5).json() == {'status': 'OK'}
    assert requests.post(node.url + '/reset', timeout=5).status_code == 404  # no backdoor by default


def test_backdoor_reset(start_node: StartNode, data_folder: Path) -> None:
    """F24: POST /reset → outbox folders exist, no model is active, a following upload is stored."""
    node = start_node(USE_BACKDOOR_CONTROLS='1')
    uuids = (data_folder / 'uuids.json').read_text()
    assert requests.put(node.url + '/model_version', data='follow_loop', timeout=5).status_code == 200
    response = requests.post(node.url + '/reset', timeout=10)
    assert response.status_code == 200 and response.json() is True
    assert node.model_manager.slot.state == 'initializing'
    # back to this node's VERSION_CONTROL_DEFAULT (pause in these tests)
    assert requests.get(node.url + '/model_version', timeout=5).json()['version_control'] == 'pause'
    assert detect_rest(node).status_code == 503
    assert not (data_folder / 'models' / '0.0').exists() and not (data_folder / 'current_model').exists()
    assert (data_folder / 'uuids.json').read_text() == uuids and (data_folder / '.lock').is_file()
    assert all((data_folder / 'outbox' / q).is_dir() for q in ('normal', 'priority', 'rejected'))
    upload = requests.post(node.url + '/upload', files=[('files', ('a.jpg', jpeg_bytes()))], timeout=10)
    assert upload.status_code == 200 and len(outbox_items(data_folder)) == 1


class GatedFactory(MockDetectorFactory):
    """The mock logic; the build of `gated` waits until `release` is set."""

    def __init__(self, gated: str) -> None:
        super().__init__()
        self.gated = gated
        self.entered = threading.Event()
        self.release = threading.Event()

    def build(self, model_info: ModelInformation) -> MockDetectorLogic:
        if model_info.version == self.gated:
            self.entered.set()
            self.release.wait(20)
        return super().build(model_info)


def test_backdoor_reset_waits_for_the_model_job_in_flight(start_node: StartNode, data_folder: Path,
                                                          devloop: DevLoop, caplog: pytest.LogCaptureFixture) -> None:
    """F24 with an update in flight: the reset runs on the model worker after the job, so the build that
    finishes meanwhile cannot re-activate a model or write current_model into the emptied data folder."""
    factory = GatedFactory('1.2')
    node = start_node(factory, loop_url=devloop.url, USE_BACKDOOR_CONTROLS='1')
    assert requests.put(node.url + '/model_version', data='1.2', timeout=5).json() == 'OK'
    assert factory.entered.wait(10), 'the build of 1.2 started'
    answers: list[requests.Response] = []
    reset = threading.Thread(target=lambda: answers.append(requests.post(node.url + '/reset', timeout=20)))
    reset.start()
    until(lambda: 'backdoor reset' in caplog.text, message='reset request arrived')
    factory.release.set()
    reset.join(20)
    until(lambda: not node.model_manager.busy, message='model worker idle')
    assert answers and answers[0].status_code == 200 and answers[0].json() is True
    assert node.model_manager.slot.state == 'initializing' and node.model_manager.slot.active_version is None
    assert not (data_folder / 'current_model').exists() and not (data_folder / 'current_model').is_symlink()
    assert list((data_folder / 'models').iterdir()) == []
    assert requests.get(node.url + '/model_version', timeout=5).json()['version_control'] == 'pause'
    assert all((data_folder / 'outbox' / q).is_dir() for q in ('normal', 'priority', 'rejected'))


def test_token_protects_rest(start_node: StartNode) -> None:
    """F33 (REST): with NODE_API_TOKEN every route but /healthz needs the bearer token."""
    node = start_node(NODE_API_TOKEN='s3cret')
    assert requests.get(node.url + '/healthz', timeout=5).status_code == 200
    assert requests.get(node.url + '/about', timeout=5).status_code == 401
    assert detect_rest(node).status_code == 401
    assert detect_rest(node, headers={'Authorization': 'Bearer wrong'}).status_code == 401
    assert detect_rest(node, headers={'Authorization': 'Bearer s3cret'}).status_code == 200
