"""devloop's web pages in headless Chromium (issue 15): the demo images' shapes, escaping, the trainer view
and its forms. The detector side (uploads, the target form) is in test_loop_pages.py."""
from __future__ import annotations

import io
from typing import Any

import pytest
import requests
import socketio
from PIL import Image
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from loopnode.devloop import DEMO_ORG, DEMO_PROJECT, DevLoop
from loopnode.devloop.seed import BOX_CATEGORY_ID, POINT_CATEGORY_ID, category
from loopnode.devloop.store import NewImage, now_iso
from tests.fixtures_devloop import loop, shared_loop  # noqa: F401 - fixtures
from tests.helpers import until

SCRIPT = '<script>alert(1)</script>'
OK = {'success': True, 'error_msg': None, 'payload': None}


def assert_no_alert(browser: Any) -> None:
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018 - the property raises when no alert is open


def near(a: float, b: float, tolerance: float = 2.5) -> bool:
    return abs(a - b) <= tolerance


def test_demo_images_show_their_boxes_and_points_at_the_right_coordinates(loop: DevLoop, browser: Any) -> None:
    """Issue 15: every demo image on the grid has its box and point annotations as SVG shapes at the stored
    pixel coordinates, in the colour of their category, and drawn where those coordinates fall on screen."""
    store = loop.store
    rows = {row['id']: row for row in store.image_rows(DEMO_ORG, DEMO_PROJECT)}
    colors = {c['id']: c['color'] for c in store.categories(DEMO_ORG, DEMO_PROJECT)}
    browser.get(f'{loop.url}/ui/{DEMO_ORG}/{DEMO_PROJECT}/images')
    tiles = browser.find_elements(By.CSS_SELECTOR, '#images .tile')
    assert len(tiles) == len(rows) == 10
    until(lambda: browser.execute_script(
        "return [...document.querySelectorAll('#images svg image')].every(i => i.getBBox().width > 0)"), timeout=10)
    shapes_seen = 0
    for tile in tiles:
        row = rows[tile.get_dom_attribute('data-id')]
        svg = tile.find_element(By.CSS_SELECTOR, 'svg.overlay')
        assert svg.get_dom_attribute('viewBox') == f'0 0 {row["width"]} {row["height"]}'
        scale = svg.rect['width'] / row['width']
        boxes = svg.find_elements(By.CSS_SELECTOR, 'rect.box.annotation')
        drawn = sorted((*(float(r.get_dom_attribute(k)) for k in ('x', 'y', 'width', 'height')),
                        r.get_dom_attribute('stroke')) for r in boxes)
        wanted = sorted((float(b['x']), float(b['y']), float(b['width']), float(b['height']), colors[b['category_id']])
                        for b in row['annotations']['box_annotations'])
        assert drawn == wanted
        for r in boxes:
            x, y = float(r.get_dom_attribute('x')), float(r.get_dom_attribute('y'))
            assert near(r.rect['x'] - svg.rect['x'], x * scale) and near(r.rect['y'] - svg.rect['y'], y * scale)
        points = svg.find_elements(By.CSS_SELECTOR, 'circle.point.annotation')
        drawn_points = sorted((float(c.get_dom_attribute('cx')), float(c.get_dom_attribute('cy')),
                               c.get_dom_attribute('fill')) for c in points)
        assert drawn_points == sorted((float(p['x']), float(p['y']), colors[p['category_id']])
                                      for p in row['annotations']['point_annotations'])
        for c in points:
            cx = float(c.get_dom_attribute('cx'))
            assert near(c.rect['x'] + c.rect['width'] / 2 - svg.rect['x'], cx * scale)
        shapes_seen += len(boxes) + len(points)
    assert shapes_seen > 10
    assert {BOX_CATEGORY_ID, POINT_CATEGORY_ID} <= set(colors)


def _jpeg(width: int = 120, height: int = 90) -> bytes:
    out = io.BytesIO()
    Image.new('RGB', (width, height), (90, 90, 90)).save(out, 'JPEG')
    return out.getvalue()


def test_script_in_a_category_or_tag_name_is_shown_as_text(loop: DevLoop, browser: Any) -> None:
    """Issue 15: a category named `<script>alert(1)</script>` (and a tag like it) is text on every page."""
    store = loop.store
    store.add_project('zauberzeug', 'xss', [category('cat-x', SCRIPT, 'box', color='red;background:url(x)')])
    image_id = '00000000-0000-0000-0000-00000000beef'
    store.add_images('zauberzeug', 'xss', [NewImage(
        id=image_id, jpeg=_jpeg(), state='complete', image_set='train', width=120, height=90, created=now_iso(),
        annotations={'box_annotations': [{'id': 'b1', 'image_id': image_id, 'category_id': 'cat-x', 'x': 10, 'y': 10,
                                          'width': 30, 'height': 20}],
                     'point_annotations': [], 'tags': [{'id': 't1', 'name': '<script>alert(2)</script>'}]})])
    pages = ('/?refresh=0', '/ui/zauberzeug/xss/', '/ui/zauberzeug/xss/images', f'/ui/zauberzeug/xss/images/{image_id}')
    for path in pages:
        browser.get(loop.url + path)
        assert_no_alert(browser)
        names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, '.category .name')]
        assert SCRIPT in names, path
        scripts = browser.find_elements(By.TAG_NAME, 'script')
        assert all('alert' not in s.get_property('innerHTML') for s in scripts), path
    browser.get(f'{loop.url}/ui/zauberzeug/xss/images')
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, '.tag')] == ['<script>alert(2)</script>']
    rect = browser.find_element(By.CSS_SELECTOR, 'rect.box')
    assert rect.get_dom_attribute('data-category') == SCRIPT
    assert rect.get_dom_attribute('stroke').startswith('#')  # a colour that is not a colour is not passed on


TRAINER_STATUS = {'id': 'page-trainer-1', 'name': 'page <i>trainer</i>', 'state': 'running', 'uptime': 12.0,
                  'errors': {'run_training': 'GPU <b>hot</b>'}, 'progress': 0.42, 'pretrained_models': [],
                  'architecture': 'mocked', 'context': {'organization': DEMO_ORG, 'project': DEMO_PROJECT}}


def flash_saying(words: str, browser: Any) -> str | None:
    """The flash message once it contains `words`; None while the browser still shows an earlier one."""
    text: str = browser.find_element(By.ID, 'flash').text
    return text if words in text else None


def test_trainer_status_sync_chart_and_begin_form(loop: DevLoop, browser: Any) -> None:
    """Issue 15: a connected trainer shows state, progress and errors; its confusion-matrix sync is a chart on
    the project page; the Begin training and Stop forms emit their events through the admin code and show
    the ack."""
    received: list[Any] = []
    client = socketio.Client(reconnection=False, request_timeout=5, handle_sigint=False)

    def on_begin(org: str, project: str, details: dict[str, Any]) -> dict[str, Any]:
        received.append((org, project, details))
        return OK
    client.on('begin_training', on_begin)
    client.on('stop_training', lambda: received.append('stop') or OK)
    client.connect(loop.url, socketio_path='/ws/socket.io', wait_timeout=5,
                   headers={'organization': DEMO_ORG, 'project': DEMO_PROJECT, 'nodeType': 'trainer'})
    try:
        assert client.call('update_trainer', TRAINER_STATUS, timeout=5) == OK
        matrix = {BOX_CATEGORY_ID: {'tp': 8, 'fp': 2, 'fn': 1}, POINT_CATEGORY_ID: {'tp': 3, 'fp': 0, 'fn': 4}}
        assert client.call('update_training', (DEMO_ORG, DEMO_PROJECT, {
            'trainer_id': 'page-trainer-1', 'trainer_name': 'page trainer', 'confusion_matrix': matrix,
            'train_image_count': 3, 'test_image_count': 1, 'best_epoch': 7}), timeout=5) == OK
        browser.get(loop.url + '/?refresh=0')  # no reload in the middle of the clicks
        card = browser.find_element(By.CSS_SELECTOR, '.node.trainer')
        assert card.find_element(By.CSS_SELECTOR, '.name').text == 'page <i>trainer</i>'
        assert card.find_element(By.CSS_SELECTOR, '.state').text == 'running'
        assert card.find_element(By.CSS_SELECTOR, '.progress').text == '42%'
        assert 'GPU <b>hot</b>' in card.text
        card.find_element(By.CSS_SELECTOR, 'form.begin button').click()
        flash = until(lambda: browser.find_element(By.ID, 'flash').text, timeout=15)
        assert 'begin_training sent' in flash and "'success': True" in flash
        assert len(received) == 1 and received[0][:2] == (DEMO_ORG, DEMO_PROJECT)
        assert received[0][2]['training_number'] == 2  # the demo has training 1
        browser.find_element(By.CSS_SELECTOR, '.node.trainer form.stop_training button').click()
        # the begin flash stays on screen until the browser has loaded the page the stop form answers with
        flash = until(lambda: flash_saying('stop_training sent', browser), timeout=15, message='the stop flash')
        assert "'success': True" in flash
        assert received[1:] == ['stop']
        browser.get(f'{loop.url}/ui/{DEMO_ORG}/{DEMO_PROJECT}/')
        bars = browser.find_elements(By.CSS_SELECTOR, '#syncs svg.chart rect.bar')
        assert sorted(int(b.get_dom_attribute('data-value')) for b in bars) == sorted([8, 2, 1, 3, 0, 4])
        titles = browser.execute_script(
            "return [...document.querySelectorAll('#syncs g.category title')].map(t => t.textContent)")
        assert 'some box: tp 8 · fp 2 · fn 1 (precision 80%, recall 89%)' in titles
        assert [r.text for r in browser.find_elements(By.CSS_SELECTOR, '#trainings tr td:first-child')][0] == '2'
    finally:
        client.disconnect()
    until(lambda: not requests.get(loop.url + '/admin/nodes', timeout=5).json()['nodes'], timeout=10)
    browser.get(loop.url + '/?refresh=0')
    assert not browser.find_elements(By.CSS_SELECTOR, '.node.trainer form')


def test_dashboard_reloads_itself_unless_told_not_to(loop: DevLoop, browser: Any) -> None:
    """Issue 15: the dashboard refreshes itself every few seconds (a marker set in the page disappears);
    `?refresh=0` has no reload script."""
    browser.get(loop.url + '/')
    browser.execute_script('window.beforeReload = true')
    until(lambda: browser.execute_script('return window.beforeReload === undefined'), timeout=15,
          message='the dashboard reloaded')
    browser.get(loop.url + '/?refresh=0')
    assert not browser.find_elements(By.TAG_NAME, 'script')


def test_grid_is_paginated_and_thumbnails_are_made_once(loop: DevLoop) -> None:
    """Issue 15: 50 images a page, the page number clamps, and a thumbnail is generated once and then served
    from the cache (no browser needed)."""
    body = {'project': 'big', 'images': 120, 'seed': 3}
    requests.post(loop.url + '/admin/projects', json=body, timeout=60).raise_for_status()
    grid = f'{loop.url}/ui/{DEMO_ORG}/big/images'
    first = requests.get(grid, timeout=10)
    assert first.status_code == 200 and first.text.count('class="tile image"') == 50
    assert 'page 1 of 3' in first.text and first.headers['Server-Timing'].startswith('app;dur=')
    assert requests.get(grid + '?page=3', timeout=10).text.count('class="tile image"') == 20
    assert 'page 3 of 3' in requests.get(grid + '?page=99', timeout=10).text
    image_id = loop.store.image_ids(DEMO_ORG, 'big')[0]
    thumb_url = f'{grid}/{image_id}/thumb.jpg'
    thumbs = loop.data_dir / 'thumbs'
    first_thumb = requests.get(thumb_url, timeout=10)
    assert first_thumb.status_code == 200 and first_thumb.headers['Content-Type'] == 'image/jpeg'
    made = sorted(thumbs.glob(f'{image_id}-*.jpg'))
    assert len(made) == 1
    stamp = made[0].stat().st_mtime_ns
    assert requests.get(thumb_url, timeout=10).content == first_thumb.content
    assert made[0].stat().st_mtime_ns == stamp and len(list(thumbs.glob(f'{image_id}-*.jpg'))) == 1
    with Image.open(io.BytesIO(first_thumb.content)) as image:
        assert image.width == 320
    assert requests.get(f'{grid}/nope/thumb.jpg', timeout=10).status_code == 404
    assert requests.get(f'{loop.url}/ui/nobody/nothing/', timeout=10).status_code == 404


def test_target_form_refuses_unknown_versions_and_other_sites(loop: DevLoop) -> None:
    """Issue 15: the target form calls the admin code; an unknown version leaves the target as it was, and a
    form posted from another site's page (Origin, Sec-Fetch-Site) is refused, so the form is no CSRF door."""
    response = requests.post(f'{loop.url}/ui/{DEMO_ORG}/{DEMO_PROJECT}/target', data={'version': '9.9'}, timeout=10)
    assert response.status_code == 200 and 'target not changed: unknown model 9.9' in response.text
    assert loop.store.target(DEMO_ORG, DEMO_PROJECT)['version'] == '1.1'
    assert requests.get(f'{loop.url}/ui/{DEMO_ORG}/{DEMO_PROJECT}/target', timeout=10).status_code == 405
    for headers in ({'Origin': 'http://evil.example'}, {'Origin': 'null'}, {'Sec-Fetch-Site': 'cross-site'}):
        refused = requests.post(f'{loop.url}/ui/{DEMO_ORG}/{DEMO_PROJECT}/target', data={'version': '1.2'},
                                headers=headers, timeout=10)
        assert refused.status_code == 403, headers
    assert loop.store.target(DEMO_ORG, DEMO_PROJECT)['version'] == '1.1'
    same = requests.post(f'{loop.url}/ui/{DEMO_ORG}/{DEMO_PROJECT}/target', data={'version': '1.2'},
                         headers={'Origin': loop.url, 'Sec-Fetch-Site': 'same-origin'}, timeout=10)
    assert same.status_code == 200 and loop.store.target(DEMO_ORG, DEMO_PROJECT)['version'] == '1.2'


def test_form_redirect_stays_on_this_site_whatever_next_holds(loop: DevLoop) -> None:
    """A form's `next` with a tab or newline (browsers drop them, so `/\t/evil.example` means `//evil.example`)
    falls back to the form's own page instead of redirecting off-site or failing with a 500."""
    page = f'/ui/{DEMO_ORG}/{DEMO_PROJECT}/'
    for bad in ('/\t/evil.example/x', '/\n/evil.example/x', '/\r\n/x', '/ok\x00'):
        response = requests.post(f'{loop.url}{page}target', data={'version': '1.1', 'next': bad},
                                 allow_redirects=False, timeout=10)
        assert response.status_code == 303, repr(bad)
        assert response.headers['Location'].startswith(page + '?msg='), repr(bad)
    kept = requests.post(f'{loop.url}{page}target', data={'version': '1.1', 'next': '/?refresh=0'},
                         allow_redirects=False, timeout=10)
    assert kept.headers['Location'].startswith('/?refresh=0&msg=')
