"""The shared image cache layout and JPEG validation (loop-protocol.md §9.2, trainer.md §6.1)."""
from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from loopnode.devloop import DevLoop
from loopnode.loop.http import LoopHttp
from loopnode.loop.images import ImageFetchError, fetch_image, image_path, images_folder, jpeg_problem
from loopnode.settings import Settings


def jpeg(size: tuple[int, int] = (32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new('RGB', size, (10, 200, 30)).save(buffer, format='JPEG')
    return buffer.getvalue()


def test_layout_is_org_project_images_id_jpg(tmp_path: Path) -> None:
    assert image_path(tmp_path, 'zauberzeug', 'demo', 'abc') == tmp_path / 'zauberzeug' / 'demo' / 'images' / 'abc.jpg'
    assert images_folder(tmp_path, 'o', 'p') == tmp_path / 'o' / 'p' / 'images'
    for bad in ('', '..', 'a/b', 'a\\b'):
        with pytest.raises(ValueError):
            image_path(tmp_path, 'o', 'p', bad)
    with pytest.raises(ValueError):
        images_folder(tmp_path, '..', 'p')


def test_jpeg_problem(tmp_path: Path) -> None:
    good, empty, cut, png = (tmp_path / n for n in ('good.jpg', 'empty.jpg', 'cut.jpg', 'png.jpg'))
    good.write_bytes(jpeg())
    empty.write_bytes(b'')
    cut.write_bytes(jpeg((200, 200))[:200])
    Image.new('RGB', (4, 4)).save(png, format='PNG')
    assert jpeg_problem(good) is None
    assert jpeg_problem(empty) == 'empty file'
    assert jpeg_problem(cut) is not None and jpeg_problem(png) is not None
    assert jpeg_problem(tmp_path / 'missing.jpg') is not None


def test_fetch_image_from_devloop(tmp_path: Path, devloop: DevLoop) -> None:
    settings = Settings.from_env({'LOOP_HOST': devloop.url, 'DATA_FOLDER': str(tmp_path / 'node')}, node_type='trainer')
    http = LoopHttp(settings, threading.Event())
    try:
        image = devloop.store.image_ids('zauberzeug', 'demo')[0]
        target = image_path(settings.data_folder, 'zauberzeug', 'demo', image)
        assert fetch_image(http, 'zauberzeug', 'demo', image, target) == target
        assert jpeg_problem(target) is None and not target.with_name(target.name + '.part').exists()
        with pytest.raises(ImageFetchError, match='HTTP 404'):
            fetch_image(http, 'zauberzeug', 'demo', 'unknown', target.with_name('unknown.jpg'))
        assert not target.with_name('unknown.jpg').exists()
    finally:
        http.close()
