"""Screenshots of devloop's pages and the detector's page for docs/pages.md (rerun after changing a page).

Starts devloop (demo seed with the examples' formats) and the example colour detector in this process, like
`loopnode demo` does, in a temporary folder on free ports; sends one sample image through `/detect` with
autoupload, connects a scripted trainer that reports progress and one confusion-matrix sync, then takes the
screenshots with headless Chromium (tools/browser.py) and stops everything.

    .venv/bin/python tools/screenshots.py [--out docs/img]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import requests
import socketio
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from any folder

from loopnode.examples.color_detector import ColorBlobsFactory  # noqa: E402
from loopnode.demo import write_sample  # noqa: E402
from loopnode.detector import DetectorNode  # noqa: E402
from loopnode.devloop import DEMO_ORG, DEMO_PROJECT, DevLoop  # noqa: E402
from loopnode.devloop.seed import BOX_CATEGORY_ID, POINT_CATEGORY_ID  # noqa: E402
from loopnode.devloop.seed_examples import example_seed_hooks  # noqa: E402
from loopnode.settings import Settings  # noqa: E402
from tools.browser import Browser  # noqa: E402

log = logging.getLogger('screenshots')
WIDTH = 1280
MAX_HEIGHT = 2200
TRAINER = {'id': 'screenshot-trainer', 'name': 'mocked trainer', 'state': 'running', 'uptime': 42.0, 'errors': {},
           'progress': 0.63, 'pretrained_models': [], 'architecture': 'mocked',
           'context': {'organization': DEMO_ORG, 'project': DEMO_PROJECT}}


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f'timed out waiting for {what}')


def shoot(driver: Any, url: str, path: Path, before: Callable[[Any], None] | None = None) -> None:
    """Load `url` (or act with `before`), wait for its images, resize to the page's height and save a PNG."""
    if before is None:
        driver.get(url)
    else:
        before(driver)
    wait_for(lambda: driver.execute_script(
        "return [...document.images, ...document.querySelectorAll('svg image')].every("
        "i => i.complete === undefined ? i.getBBox().width > 0 : i.complete)"), 15, f'images of {url}')
    height = min(MAX_HEIGHT, int(driver.execute_script('return document.documentElement.scrollHeight')))
    # headless Chromium clamps window sizes to its screen; a device-metrics override sets the viewport itself
    driver.execute_cdp_cmd('Emulation.setDeviceMetricsOverride',
                           {'width': WIDTH, 'height': height, 'deviceScaleFactor': 1, 'mobile': False})
    time.sleep(0.3)  # let the resized page lay out and paint before the capture
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    driver.execute_cdp_cmd('Emulation.clearDeviceMetricsOverride', {})
    with Image.open(path) as shot:  # 256 colours: a fraction of the size, still sharp text
        shot.convert('RGB').quantize(256).save(path, optimize=True)
    log.info('wrote %s (%d px high)', path, height)


def detector_settings(data: Path, loop_url: str) -> Settings:
    return Settings.from_env({'DATA_FOLDER': str(data), 'LOOP_HOST': loop_url, 'LOOP_ORGANIZATION': DEMO_ORG,
                              'LOOP_PROJECT': DEMO_PROJECT, 'NODE_PORT': '0', 'NODE_NAME': 'loopnode demo detector',
                              'LOOP_POLL_INTERVAL': '0.5', 'SYNC_CYCLES': '1', 'SHUTDOWN_GRACE_SEC': '3'},
                             node_type='detector')


def run(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix='loopnode-screenshots-') as folder:
        root = Path(folder)
        loop = DevLoop(root / 'devloop', seed_hooks=example_seed_hooks())
        loop.start()
        node = DetectorNode(ColorBlobsFactory(), settings=detector_settings(root / 'detector', loop.url))
        trainer = socketio.Client(reconnection=False, handle_sigint=False)
        try:
            node.start()
            wait_for(lambda: node.model_manager.slot.active_version == '1.1', 30, 'the detector to serve 1.1')
            sample = write_sample(root / 'demo-data' / 'sample.jpg', loop)
            with sample.open('rb') as f:
                requests.post(node.url + '/detect', files={'file': f}, timeout=10,
                              headers={'autoupload': 'all', 'tags': 'screenshot', 'source': 'front camera'})
            wait_for(lambda: requests.get(loop.url + '/admin/received/images', timeout=5).json()['images'], 15,
                     'the upload')
            trainer.connect(loop.url, socketio_path='/ws/socket.io', wait_timeout=5,
                            headers={'organization': DEMO_ORG, 'project': DEMO_PROJECT, 'nodeType': 'trainer'})
            trainer.call('update_trainer', TRAINER, timeout=5)
            for tp in (3, 6, 8):
                trainer.call('update_training', (DEMO_ORG, DEMO_PROJECT, {
                    'trainer_id': TRAINER['id'], 'trainer_name': TRAINER['name'], 'train_image_count': 3,
                    'test_image_count': 1, 'best_epoch': tp, 'confusion_matrix': {
                        BOX_CATEGORY_ID: {'tp': tp, 'fp': 9 - tp, 'fn': 2},
                        POINT_CATEGORY_ID: {'tp': tp + 1, 'fp': 1, 'fn': 8 - tp}}}), timeout=5)
            node.request_status_sync()
            wait_for(lambda: 'class="card node detector"' in requests.get(loop.url + '/', timeout=5).text, 10,
                     'the detector status on the dashboard')
            with Browser(WIDTH, 900) as browser:
                driver = browser.driver
                grid = f'{loop.url}/ui/{DEMO_ORG}/{DEMO_PROJECT}/images'
                shoot(driver, loop.url + '/', out / 'devloop-dashboard.png')
                shoot(driver, grid, out / 'devloop-images.png')
                shoot(driver, grid + '?state=received', out / 'devloop-received.png')
                shoot(driver, f'{loop.url}/ui/{DEMO_ORG}/{DEMO_PROJECT}/', out / 'devloop-project.png')

                def upload_sample(d: Any) -> None:
                    from selenium.webdriver.common.by import By  # noqa: PLC0415
                    d.get(node.url + '/')
                    d.find_element(By.CSS_SELECTOR, '#detect-form input[type=file]').send_keys(str(sample))
                    d.find_element(By.CSS_SELECTOR, '#detect-form button').click()
                    wait_for(lambda: d.find_elements(By.ID, 'result'), 15, 'the detection result')
                shoot(driver, node.url + '/', out / 'detector-page.png', before=upload_sample)
        finally:
            if trainer.connected:
                trainer.disconnect()
            node.stop()
            loop.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, default=Path(__file__).resolve().parent.parent / 'docs' / 'img')
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    logging.getLogger('loopnode').setLevel(logging.WARNING)
    run(args.out)


if __name__ == '__main__':
    main()
