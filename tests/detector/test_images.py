"""Image decoding (detector.md §3.2): Pillow files → RGB uint8 H×W×3, raw dict validation, pixel limit."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from loopnode.detector.images import ImageError, decode_encoded, decode_image_dict, is_jpeg, open_encoded

from .conftest import jpeg_bytes, png_bytes

LIMIT = 50_000_000


def encoded(image: Image.Image, fmt: str, **kw: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


@pytest.mark.parametrize('mode', ['RGB', 'RGBA', 'L', 'P', 'I;16'])
def test_every_mode_becomes_rgb_uint8(mode: str) -> None:
    data = encoded(Image.new(mode, (20, 10)), 'PNG')
    array = decode_encoded(data, LIMIT)
    assert array.shape == (10, 20, 3) and array.dtype == np.uint8


def test_jpeg_and_other_formats_decode() -> None:
    assert decode_encoded(jpeg_bytes(64, 48), LIMIT).shape == (48, 64, 3)
    assert decode_encoded(encoded(Image.new('RGB', (8, 6)), 'BMP'), LIMIT).shape == (6, 8, 3)
    assert decode_encoded(encoded(Image.new('RGB', (8, 6)), 'WEBP'), LIMIT).shape == (6, 8, 3)
    assert is_jpeg(jpeg_bytes()) and not is_jpeg(png_bytes())


def test_exif_orientation_is_applied() -> None:
    """EXIF orientation 6 (rotate 90° clockwise) turns a 40×20 file into 20×40 pixels (0.27.0 behaviour)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encoded(Image.new('RGB', (40, 20), (255, 0, 0)), 'JPEG', exif=exif.tobytes())
    assert decode_encoded(data, LIMIT).shape == (40, 20, 3)


@pytest.mark.parametrize('data,reason', [
    (b'', 'empty file'),
    (b'garbage bytes, not an image', 'not an image format'),
    (jpeg_bytes()[:200], 'OSError'),
])
def test_undecodable_files_name_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageError, match=reason):
        decode_encoded(data, LIMIT)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    data = encoded(Image.new('L', (3000, 2000)), 'PNG')
    with pytest.raises(ImageError, match='3000x2000 pixels exceeds the limit of 5000000 pixels'):
        open_encoded(data, 5_000_000)
    with pytest.raises(ImageError, match='exceeds the limit'):
        decode_image_dict({'bytes': b'\0' * 3000 * 2000, 'dtype': 'uint8', 'shape': [2000, 3000]}, 5_000_000)


def test_raw_dict_is_a_zero_copy_view() -> None:
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    payload = pixels.tobytes()
    array, stored = decode_image_dict({'bytes': payload, 'dtype': 'uint8', 'shape': (2, 3, 3)}, LIMIT)
    assert stored is array and np.array_equal(array, pixels)
    assert not array.flags.writeable and np.shares_memory(array, np.frombuffer(payload, np.uint8))
    gray, _ = decode_image_dict({'bytes': b'\0' * 12, 'dtype': 'float32', 'shape': [1, 3]}, LIMIT)
    assert gray.dtype == np.float32 and gray.shape == (1, 3)
    array16, _ = decode_image_dict({'format': 'raw', 'bytes': b'\0' * 8, 'dtype': 'uint16', 'shape': [2, 2]}, LIMIT)
    assert array16.dtype == np.uint16


def test_jpeg_dict_keeps_the_original_bytes() -> None:
    data = jpeg_bytes(16, 8)
    array, stored = decode_image_dict({'format': 'jpeg', 'bytes': data}, LIMIT)
    assert array.shape == (8, 16, 3) and stored == data


@pytest.mark.parametrize('image,detail', [
    ({'bytes': b'\0' * 1000, 'dtype': 'uint8', 'shape': [480, 640, 3]},
     'shape [480, 640, 3] of uint8 needs 921600 bytes, got 1000'),
    ({'bytes': b'\0' * 8, 'dtype': 'int64', 'shape': [1, 1]}, "dtype must be one of uint8, uint16, float32, got 'int64'"),
    ({'bytes': b'\0' * 16, 'dtype': 'uint8', 'shape': [2, 2, 2, 2]}, "'shape' must have 2 or 3 dimensions"),
    ({'bytes': b'\0', 'dtype': 'uint8', 'shape': [1]}, "'shape' must have 2 or 3 dimensions"),
    ({'bytes': b'\0' * 4, 'dtype': 'uint8', 'shape': [2, -2]}, "'shape' must be a list of positive ints"),
    ({'bytes': b'\0' * 4, 'dtype': 'uint8', 'shape': '2x2'}, "'shape' must be a list"),
    ({'bytes': b'\0' * 4, 'dtype': 'uint8'}, "'shape' must be a list"),
    ({'bytes': b'\0' * 4, 'shape': [2, 2]}, 'dtype must be one of'),
    ({'format': 'png', 'bytes': png_bytes()}, "format must be 'raw' or 'jpeg', got 'png'"),
    ({'format': 'JPEG', 'bytes': jpeg_bytes()}, "format must be 'raw' or 'jpeg'"),
    ({'dtype': 'uint8', 'shape': [1, 1]}, "missing 'bytes'"),
    ({'bytes': 'text', 'dtype': 'uint8', 'shape': [1, 4]}, "'bytes' must be binary data, got str"),
    ({'format': 'jpeg', 'bytes': b'not a jpeg'}, 'not an image format'),
    ({'format': 'jpeg', 'bytes': b''}, 'empty file'),
    ('a string', 'expected an image dict'),
    (None, 'expected an image dict'),
])
def test_image_dict_checks_name_the_detail(image: object, detail: str) -> None:
    """F32: wrong byte count, dtype int64, 4-D shape, format png, and every other malformed dict."""
    with pytest.raises(ImageError) as caught:
        decode_image_dict(image, LIMIT)
    assert detail in str(caught.value)


def test_plain_jpeg_fast_path_matches_pillow() -> None:
    """A JPEG without EXIF rotation goes through simplejpeg and gives Pillow's pixels (issue 7's decoder choice)."""
    from loopnode.detector import images
    rng = np.random.default_rng(3)
    ramp = np.linspace(0, 200, 640)[None, :, None] + np.linspace(0, 50, 480)[:, None, None]
    pixels = np.clip(ramp + rng.normal(0, 20, (480, 640, 3)), 0, 255).astype(np.uint8)
    data = encoded(Image.fromarray(pixels), 'JPEG', quality=90)
    fast = images._decode_plain_jpeg(data, 50_000_000)
    assert fast is not None and fast.shape == (480, 640, 3) and fast.dtype == np.uint8
    with Image.open(io.BytesIO(data)) as image:
        reference = np.asarray(image.convert('RGB'))
    assert int(np.abs(fast.astype(int) - reference.astype(int)).max()) <= 2
    assert images.decode_encoded(data, 50_000_000).shape == (480, 640, 3)


def test_fast_path_hands_broken_and_rotated_jpegs_to_pillow() -> None:
    """Truncated or EXIF-rotated JPEGs take Pillow's path (its error text, its rotation)."""
    from loopnode.detector import images
    whole = encoded(Image.new('RGB', (64, 48), (0, 128, 255)), 'JPEG')
    assert images._decode_plain_jpeg(whole[: len(whole) // 2], 50_000_000) is None
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = encoded(Image.new('RGB', (40, 20), (255, 0, 0)), 'JPEG', exif=exif.tobytes())
    assert images._decode_plain_jpeg(rotated, 50_000_000) is None
