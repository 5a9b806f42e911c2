"""`loopnode loop` entry point, the image generator and generated projects (issue 3)."""
from __future__ import annotations

import colorsys
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from loopnode.devloop import DevLoop
from loopnode.devloop.cli import main
from loopnode.devloop.imagegen import (HEIGHT, MAX_BACKGROUND_SATURATION, PURPLE, WIDTH, ShapeStyle, category_color,
                                       generate_image)


def test_cli_runs_until_sigterm(tmp_path: Path) -> None:
    """§11.1: `loopnode loop` with DEVLOOP_* defaults serves until SIGTERM, then exits 0."""
    env = dict(os.environ, DEVLOOP_PORT='0', DEVLOOP_DATA=str(tmp_path / 'data'))
    code = 'import sys; from loopnode.devloop.cli import main; sys.exit(main(sys.argv[1:]))'
    proc = subprocess.Popen([sys.executable, '-c', code, '--seed', 'empty'], env=env, stderr=subprocess.PIPE,
                            text=True, cwd=Path(__file__).parents[2])
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()  # type: ignore[union-attr]
            match = re.search(r'devloop ready at (\S+)', line)
            url = match.group(1) if match else None
        assert url, 'devloop did not report its URL'
        assert requests.get(url + '/api/projects', timeout=5).json() == {'projects': []}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()  # type: ignore[union-attr]
    assert (tmp_path / 'data' / 'devloop.sqlite3').exists()


def test_cli_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Invalid DEVLOOP_AUTH or --users → exit 78."""
    monkeypatch.setenv('DEVLOOP_AUTH', 'bogus')
    assert main([]) == 78
    monkeypatch.delenv('DEVLOOP_AUTH')
    assert main(['--users', 'nocolon', '--port', '0']) == 78


def test_generator_is_deterministic_and_annotations_fit() -> None:
    """Same seed → same bytes; shapes ≥ 20 px inside the 640×480 image, in their category colour."""
    boxes = [ShapeStyle('a', 'id-a', category_color(0)), ShapeStyle('b', 'id-b', category_color(1))]
    points = [ShapeStyle('purple point', 'id-p', PURPLE)]
    assert generate_image(7, boxes, points).jpeg == generate_image(7, boxes, points).jpeg
    for seed in range(12):
        generated = generate_image(seed, boxes, points)
        pixels = np.asarray(Image.open(io.BytesIO(generated.jpeg)).convert('RGB')).astype(int)
        assert pixels.shape == (HEIGHT, WIDTH, 3)
        for box in generated.boxes:
            assert 0 <= box.x and box.x + box.width <= WIDTH and 0 <= box.y and box.y + box.height <= HEIGHT
            assert min(box.width, box.height) >= 20
            centre = pixels[box.y + box.height // 2, box.x + box.width // 2]
            assert np.abs(centre - np.array(box.category.color)).max() < 40
        for point in generated.points:
            assert 0 <= point.x < WIDTH and 0 <= point.y < HEIGHT
            assert np.abs(pixels[int(point.y), int(point.x)] - np.array(PURPLE)).max() < 40


def test_background_never_looks_like_a_category() -> None:
    """Backgrounds stay low-saturated so colour statistics separate shapes from them."""
    generated = generate_image(3, [], [])
    rgb = np.asarray(Image.open(io.BytesIO(generated.jpeg)).convert('RGB'))[::8, ::8].reshape(-1, 3) / 255
    saturation = [colorsys.rgb_to_hsv(*p)[1] for p in rgb]
    assert np.percentile(saturation, 99) < MAX_BACKGROUND_SATURATION + 0.15
    palette = [colorsys.rgb_to_hsv(*(np.array(category_color(i)) / 255))[1] for i in range(10)]
    assert min(palette) > 0.7


def test_admin_creates_generated_project(loop: DevLoop) -> None:
    """Issue 3: POST /admin/projects makes a project with N decodable images whose annotations lie inside."""
    body = {'organization': 'zauberzeug', 'project': 'shapes', 'images': 5, 'box_categories': 2,
            'point_categories': 1, 'seed': 4}
    created = requests.post(loop.url + '/admin/projects', json=body, timeout=30)
    assert created.status_code == 200, created.text
    assert len(created.json()['image_ids']) == 5
    assert requests.post(loop.url + '/admin/projects', json=body, timeout=30).status_code == 409
    assert requests.post(loop.url + '/admin/projects', json=body | {'project': 'x', 'images': 'many'},
                         timeout=5).status_code == 422
    assert requests.post(loop.url + '/admin/projects', json={'project': 'y', 'states': {'inbox': 1, 'nowhere': 2}},
                         timeout=5).status_code == 422
    p = loop.url + '/api/zauberzeug/projects/shapes'
    categories = requests.get(p, timeout=5).json()['categories']
    assert len({c['color'] for c in categories}) == 3
    ids = requests.get(p + '/data?state=complete', timeout=5).json()['image_ids']
    for record in requests.get(p + '/images', params={'ids': ','.join(ids)}, timeout=5).json()['images']:
        image = Image.open(io.BytesIO(requests.get(loop.url + '/api' + record['resource'], timeout=5).content))
        image.load()
        for box in record['box_annotations']:
            assert box['x'] >= 0 and box['y'] >= 0
            assert box['x'] + box['width'] <= image.width and box['y'] + box['height'] <= image.height
        for point in record['point_annotations']:
            assert 0 <= point['x'] <= image.width and 0 <= point['y'] <= image.height
    states = requests.post(loop.url + '/admin/projects', json={'project': 'mixed', 'states': {'inbox': 2, 'review': 1}},
                           timeout=30)
    assert states.status_code == 200
    listed = {p['project']: p for p in requests.get(loop.url + '/admin/projects', timeout=5).json()['projects']}
    assert listed['mixed']['images'] == {'inbox': 2, 'annotate': 0, 'review': 1, 'complete': 0}
