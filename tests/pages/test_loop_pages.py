"""The detector's page and devloop's page together, in headless Chromium (issue 15): a detection uploaded
through the detector shows on devloop's page, the target form moves the detector, the detector page's upload
form draws the detections of the demo sample, and its token rule is the API's."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from loopnode.examples.color_detector import ColorBlobsFactory
from loopnode.demo import write_sample
from loopnode.detector import DetectorNode, MockDetectorFactory
from loopnode.devloop import DEMO_ORG, DEMO_PROJECT, DevLoop
from loopnode.devloop.seed_examples import example_seed_hooks
from tests.detector.conftest import UNREACHABLE_LOOP, node_settings, write_model
from tests.fixtures_devloop import loop  # noqa: F401 - resets this module's shared_loop
from tests.helpers import until

SCRIPT = '<script>alert(1)</script>'


@pytest.fixture(scope='module')
def shared_loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevLoop]:
    loop = DevLoop(tmp_path_factory.mktemp('devloop'), seed_hooks=example_seed_hooks())
    loop.start()
    yield loop
    loop.stop()


@pytest.fixture
def sample(tmp_path: Path, loop: DevLoop) -> Path:
    """demo-data/sample.jpg as `loopnode demo` writes it."""
    return write_sample(tmp_path / 'demo-data' / 'sample.jpg', loop)


@pytest.fixture
def start_detector(tmp_path: Path) -> Iterator[Callable[..., DetectorNode]]:
    nodes: list[DetectorNode] = []

    def start(loop_url: str, factory: Any = None, data: Path | None = None, **env: str) -> DetectorNode:
        settings = node_settings(data or tmp_path / f'node{len(nodes)}', loop_url, **env)
        node = DetectorNode(factory or ColorBlobsFactory(), name='page test detector', settings=settings)
        nodes.append(node)
        node.start()
        return node
    yield start
    for node in reversed(nodes):
        node.stop()


def following(start: Callable[..., DetectorNode], loop: DevLoop, version: str = '1.1') -> DetectorNode:
    """A colour detector following the demo project's target, serving `version`."""
    node = start(loop.url, VERSION_CONTROL_DEFAULT='follow_loop')
    until(lambda: node.model_manager.slot.active_version == version, timeout=20, message=f'detector serves {version}')
    return node


def float_attrs(element: Any, *names: str) -> tuple[float, ...]:
    return tuple(float(element.get_dom_attribute(n)) for n in names)


def test_detection_uploaded_through_the_detector_appears_on_devlops_page(
        loop: DevLoop, start_detector: Callable[..., DetectorNode], sample: Path, browser: Any) -> None:
    """Issue 15: `/detect` with autoupload all → the image is on devloop's "received from nodes" grid with the
    detector's boxes and points at their coordinates, its tags and its source."""
    node = following(start_detector, loop)
    with sample.open('rb') as f:
        response = requests.post(node.url + '/detect', files={'file': f}, timeout=10,
                                 headers={'autoupload': 'all', 'tags': 'page-test', 'source': 'robot <1>'})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer['box_detections'] or answer['point_detections']
    until(lambda: requests.get(loop.url + '/admin/received/images', timeout=5).json()['images'], timeout=15,
          message='upload reached devloop')
    browser.get(f'{loop.url}/ui/{DEMO_ORG}/{DEMO_PROJECT}/images?state=received')
    tiles = browser.find_elements(By.CSS_SELECTOR, '#images .tile')
    assert len(tiles) == 1
    tile = tiles[0]
    boxes = tile.find_elements(By.CSS_SELECTOR, 'rect.box.detection')
    assert sorted(float_attrs(r, 'x', 'y', 'width', 'height') for r in boxes) == sorted(
        (float(d['x']), float(d['y']), float(d['width']), float(d['height'])) for d in answer['box_detections'])
    points = tile.find_elements(By.CSS_SELECTOR, 'circle.point.detection')
    assert sorted(float_attrs(c, 'cx', 'cy') for c in points) == sorted(
        (float(d['x']), float(d['y'])) for d in answer['point_detections'])
    titles = browser.execute_script("return [...document.querySelectorAll('#images title')].map(t => t.textContent)")
    first = (answer['box_detections'] or answer['point_detections'])[0]
    assert f"{first['category_name']} {first['confidence']:.0%} (detection)" in titles
    assert 'page-test' in [t.text for t in tile.find_elements(By.CSS_SELECTOR, '.tag')]
    assert tile.find_element(By.CSS_SELECTOR, '.source strong').text == 'robot <1>'
    until(lambda: requests.get(loop.url + '/', timeout=5).text.count('class="card node detector"') == 1, timeout=10,
          message='the detector status is on the dashboard')
    browser.get(loop.url + '/?refresh=0')
    card = browser.find_element(By.CSS_SELECTOR, '.node.detector')
    assert card.find_element(By.CSS_SELECTOR, '[data-fact="model"]').text == '1.1'


def test_target_form_changes_what_the_detector_follows(
        loop: DevLoop, start_detector: Callable[..., DetectorNode], browser: Any) -> None:
    """Issue 15: choosing 1.2 in the project page's target form makes a following detector load 1.2."""
    node = following(start_detector, loop)
    browser.get(f'{loop.url}/ui/{DEMO_ORG}/{DEMO_PROJECT}/')
    Select(browser.find_element(By.CSS_SELECTOR, '#target-form select')).select_by_value('1.2')
    browser.find_element(By.CSS_SELECTOR, '#target-form button').click()
    assert 'deployment target of zauberzeug/demo is now 1.2' in until(
        lambda: browser.find_element(By.ID, 'flash').text, timeout=10)
    assert browser.find_element(By.CSS_SELECTOR, '#models tr.target').get_dom_attribute('data-version') == '1.2'
    until(lambda: node.model_manager.slot.active_version == '1.2', timeout=20, message='detector follows to 1.2')


def test_detector_page_upload_form_shows_the_detections_of_the_sample(
        loop: DevLoop, start_detector: Callable[..., DetectorNode], sample: Path, browser: Any) -> None:
    """Issue 15: the detector page's form runs demo-data/sample.jpg through /detect's code and draws exactly
    the detections `/detect` answers; autoupload is disabled unless chosen, so nothing is uploaded."""
    node = following(start_detector, loop)
    with sample.open('rb') as f:
        expected = requests.post(node.url + '/detect', files={'file': f}, headers={'autoupload': 'disabled'},
                                 timeout=10).json()
    assert expected['box_detections'] or expected['point_detections']
    browser.get(node.url + '/')
    assert browser.find_element(By.CSS_SELECTOR, '.active-version').text == '1.1'
    assert browser.find_element(By.CSS_SELECTOR, '.version-control').text == 'follow_loop'
    assert browser.find_element(By.CSS_SELECTOR, '[data-counter="uploaded"]').text == '0'
    assert Select(browser.find_element(By.CSS_SELECTOR, '#detect-form select[name=autoupload]')) \
        .first_selected_option.text == 'disabled'
    browser.find_element(By.CSS_SELECTOR, '#detect-form input[type=file]').send_keys(str(sample))
    browser.find_element(By.CSS_SELECTOR, '#detect-form button').click()
    result = until(lambda: browser.find_element(By.ID, 'result'), timeout=15)
    assert result.get_dom_attribute('data-autoupload') == 'disabled'
    svg = result.find_element(By.CSS_SELECTOR, 'svg.overlay')
    assert svg.get_dom_attribute('viewBox') == '0 0 640 480'
    boxes = svg.find_elements(By.CSS_SELECTOR, 'rect.box.detection')
    assert sorted(float_attrs(r, 'x', 'y', 'width', 'height') for r in boxes) == sorted(
        (float(d['x']), float(d['y']), float(d['width']), float(d['height'])) for d in expected['box_detections'])
    points = svg.find_elements(By.CSS_SELECTOR, 'circle.point.detection')
    assert sorted(float_attrs(c, 'cx', 'cy') for c in points) == sorted(
        (float(d['x']), float(d['y'])) for d in expected['point_detections'])
    counts = {e.get_dom_attribute('data-kind'): int(e.text) for e in result.find_elements(By.CSS_SELECTOR, '.count')}
    assert counts['box_detections'] == len(expected['box_detections'])
    # nothing was queued by the page: the next explicit upload is the only image devloop receives
    with sample.open('rb') as f:
        requests.post(node.url + '/detect', files={'file': f}, headers={'autoupload': 'all', 'tags': 'barrier'},
                      timeout=10).raise_for_status()
    images = until(lambda: requests.get(loop.url + '/admin/received/images', timeout=5).json()['images'], timeout=15)
    until(lambda: node.outbox.status_dict()['normal'] == 0, timeout=10)
    assert len(requests.get(loop.url + '/admin/received/images', timeout=5).json()['images']) == len(images) == 1


def test_detector_page_escapes_and_changes_state_only_by_post(
        start_detector: Callable[..., DetectorNode], tmp_path: Path, browser: Any) -> None:
    """Issue 15: a model category named `<script>alert(1)</script>` is text on the detector page; GET never
    changes state (the form routes only accept POST) and a POST form does, calling the API's code."""
    data = tmp_path / 'script-node'
    write_model(data, categories=[{'id': 'c1', 'name': SCRIPT, 'type': 'box', 'color': '#00FF00'}])
    node = start_detector(UNREACHABLE_LOOP, MockDetectorFactory(), data=data)
    until(lambda: node.model_manager.slot.state == 'active', timeout=10)
    browser.get(node.url + '/')
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018
    assert SCRIPT in [e.text for e in browser.find_elements(By.CSS_SELECTOR, '.category .name')]
    assert all('alert' not in s.get_property('innerHTML') for s in browser.find_elements(By.TAG_NAME, 'script'))
    for path in ('/page/detect', '/page/version_control', '/page/outbox_mode', '/page/operation_mode'):
        assert requests.get(node.url + path, timeout=5).status_code == 405
    assert node.outbox.mode == 'continuous_upload'
    refused = requests.post(node.url + '/page/outbox_mode', data={'mode': 'stopped'},
                            headers={'Origin': 'http://127.0.0.1:1'}, timeout=5)
    assert refused.status_code == 403 and node.outbox.mode == 'continuous_upload'
    Select(browser.find_element(By.CSS_SELECTOR, '#outbox-form select')).select_by_visible_text('stopped')
    browser.find_element(By.CSS_SELECTOR, '#outbox-form button').click()
    assert until(lambda: browser.find_element(By.ID, 'flash').text, timeout=10) == 'outbox mode: stopped'
    assert node.outbox.mode == 'stopped'
    assert browser.find_element(By.CSS_SELECTOR, '.outbox-mode').text == 'stopped'
    requests.post(node.url + '/page/version_control', data={'mode': 'pause', 'version': 'x.y.z'}, timeout=5)
    assert node.model_manager.version_control == 'pause'


def test_detector_page_follows_the_api_token_rule(start_detector: Callable[..., DetectorNode], tmp_path: Path) -> None:
    """Issue 15 / F33: with NODE_API_TOKEN the page and its forms need the bearer token like every route."""
    data = tmp_path / 'token-node'
    write_model(data)
    node = start_detector(UNREACHABLE_LOOP, MockDetectorFactory(), data=data, NODE_API_TOKEN='s3cret')
    until(lambda: node.model_manager.slot.state == 'active' and node.operation_mode == 'idle', timeout=10)
    assert requests.get(node.url + '/', timeout=5).status_code == 401
    assert requests.post(node.url + '/page/operation_mode', data={'mode': 'detecting'}, timeout=5).status_code == 401
    assert node.operation_mode == 'idle'
    auth = {'Authorization': 'Bearer s3cret'}
    page = requests.get(node.url + '/', headers=auth, timeout=5)
    assert page.status_code == 200 and 'page test detector' in page.text
    response = requests.post(node.url + '/page/operation_mode', data={'mode': 'detecting'}, headers=auth,
                             timeout=5, allow_redirects=False)
    assert response.status_code == 303 and response.headers['Location'].startswith('/?msg=')
    assert node.operation_mode == 'detecting'
