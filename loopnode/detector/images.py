"""Image decoding for the detector API (detector.md §3.2).

Encoded files (REST uploads, Socket.IO `format: "jpeg"`) are decoded with EXIF orientation applied and handed
on as RGB uint8 H×W×3: plain JPEGs by simplejpeg (libjpeg-turbo straight into numpy, ~35 % faster than Pillow
for 640×480 and the same pixels), everything else (EXIF rotation, CMYK, PNG, …) by Pillow. Raw Socket.IO buffers become a zero-copy (read-only) numpy view after
strict validation. Both refuse images above `max_pixels` before any pixel is decoded (decompression bombs).
"""
from __future__ import annotations

import io
import math
import struct
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import simplejpeg

if TYPE_CHECKING:
    from PIL import Image

RAW_DTYPES: dict[str, np.dtype] = {name: np.dtype(name) for name in ('uint8', 'uint16', 'float32')}
EXIF_ORIENTATION = 0x0112
JPEG_MAGIC = b'\xff\xd8'


class ImageError(ValueError):
    """An image that cannot be used; str(e) is the detail shown to the client."""


def is_jpeg(data: bytes | memoryview) -> bool:
    """True if the bytes start like a JPEG file (FF D8)."""
    return bytes(data[:2]) == JPEG_MAGIC


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(f'image of {width}x{height} pixels exceeds the limit of {max_pixels} pixels '
                         '(MAX_IMAGE_PIXELS)')


def open_encoded(data: bytes | memoryview, max_pixels: int) -> Image.Image:
    """Open and fully decode an encoded image (any Pillow format); ImageError with the reason on failure."""
    if len(data) == 0:
        raise ImageError('empty file')
    from PIL import Image, UnidentifiedImageError  # on first use: plain JPEGs never need Pillow (~2.5 MiB RSS)
    try:
        image = Image.open(io.BytesIO(data))
        _check_pixels(image.width, image.height, max_pixels)
        image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError('not an image format Pillow can read') from None
    except Image.DecompressionBombError as e:
        raise ImageError(str(e)) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error) as e:  # what Pillow raises on broken files
        raise ImageError(f'{type(e).__name__}: {e}') from None
    return image


def decode_encoded(data: bytes | memoryview, max_pixels: int) -> np.ndarray:
    """RGB uint8 H×W×3 of an encoded file, EXIF orientation applied (0.27.0 behaviour)."""
    if is_jpeg(data):
        pixels = _decode_plain_jpeg(data, max_pixels)
        if pixels is not None:
            return pixels
    image = open_encoded(data, max_pixels)
    from PIL import ImageOps
    try:
        if image.getexif().get(EXIF_ORIENTATION, 1) not in (1, None):
            image = ImageOps.exif_transpose(image)
        if image.mode != 'RGB':
            image = image.convert('RGB')
        return np.asarray(image)
    except (OSError, ValueError, SyntaxError, IndexError, struct.error) as e:
        raise ImageError(f'{type(e).__name__}: {e}') from None


def _decode_plain_jpeg(data: bytes | memoryview, max_pixels: int) -> np.ndarray | None:
    """simplejpeg's decode of a JPEG that needs no EXIF rotation; None hands the file to Pillow (which also
    words the error of a broken file)."""
    try:
        width, height, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    _check_pixels(width, height, max_pixels)
    if colorspace not in ('RGB', 'YCbCr', 'Gray') or _needs_rotation(data):
        return None
    try:
        return simplejpeg.decode_jpeg(data, colorspace='RGB', strict=True)
    except ValueError:
        return None


def _needs_rotation(data: bytes | memoryview) -> bool:
    """True if the JPEG carries an EXIF orientation other than 1 (Pillow reads only the header for this)."""
    if b'Exif' not in bytes(data[:65536]):
        return False
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.getexif().get(EXIF_ORIENTATION, 1) not in (1, None)
    except (OSError, ValueError, SyntaxError, EOFError):
        return True  # let Pillow decide and explain


def _shape_of(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise ImageError(f"'shape' must be a list of 2 or 3 positive ints, got {_show(value)}")
    if len(value) not in (2, 3):
        raise ImageError(f"'shape' must have 2 or 3 dimensions ([H, W] or [H, W, C]), got {list(value)}")
    if not all(type(n) is int and n > 0 for n in value):
        raise ImageError(f"'shape' must be a list of positive ints, got {_show(list(value))}")
    return tuple(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


def _buffer(image: Mapping[str, Any]) -> bytes | bytearray | memoryview:
    if 'bytes' not in image:
        raise ImageError("missing 'bytes'")
    data = image['bytes']
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"'bytes' must be binary data, got {type(data).__name__}")
    return data


def image_format(image: Any) -> str:
    """The checked `format` of an image dict: 'raw' (default) or 'jpeg'."""
    if not isinstance(image, Mapping):
        raise ImageError(f'expected an image dict with bytes, dtype and shape, got {type(image).__name__}')
    fmt = image.get('format', 'raw')
    if fmt is None:
        fmt = 'raw'
    if fmt not in ('raw', 'jpeg'):
        raise ImageError(f"format must be 'raw' or 'jpeg', got {_show(fmt)}")
    return fmt


def decode_image_dict(image: Any, max_pixels: int) -> tuple[np.ndarray, np.ndarray | bytes]:
    """(pixels for the logic, what the outbox stores) of a Socket.IO image dict.

    raw: the same zero-copy array twice; jpeg: the decoded RGB array and the original encoded bytes.
    """
    fmt = image_format(image)
    data = _buffer(image)
    if fmt == 'jpeg':
        encoded = bytes(data)
        return decode_encoded(encoded, max_pixels), encoded
    dtype_name = image.get('dtype')
    dtype = RAW_DTYPES.get(dtype_name) if isinstance(dtype_name, str) else None
    if dtype is None:
        raise ImageError(f"dtype must be one of {', '.join(RAW_DTYPES)}, got {_show(dtype_name)}")
    shape = _shape_of(image.get('shape'))
    needed = math.prod(shape) * dtype.itemsize
    if needed != len(data):
        raise ImageError(f'shape {list(shape)} of {dtype_name} needs {needed} bytes, got {len(data)}')
    _check_pixels(shape[1], shape[0], max_pixels)
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array, array
