"""A deterministic, photo-like 640×480 JPEG for the benchmarks (smooth light, texture, edges, sensor noise).

Flat synthetic images decode much faster than camera frames; this one has a realistic entropy (~100 KiB at
quality 90), so JPEG decode costs what it costs on a robot.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

WIDTH, HEIGHT = 640, 480


def photo_array(seed: int = 7) -> np.ndarray:
    """RGB uint8 480×640×3: a lit field with leaves and stones, blurred a little, plus sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    light = 0.6 + 0.4 * np.sin(x / 170.0 + 0.5) * np.cos(y / 130.0 - 0.3)
    coarse = np.asarray(Image.fromarray(rng.integers(0, 255, (15, 20, 3), dtype=np.uint8)).resize(
        (WIDTH, HEIGHT), Image.BICUBIC), dtype=np.float32)
    base = (0.55 * coarse + 0.45 * np.array([90, 120, 60], np.float32)) * light[..., None]
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        cx, cy, r = rng.integers(0, WIDTH), rng.integers(0, HEIGHT), rng.integers(4, 28)
        colour = tuple(int(c) for c in rng.integers(20, 230, 3))
        if rng.random() < 0.5:
            draw.ellipse((cx - r, cy - r // 2, cx + r, cy + r // 2), fill=colour)
        else:
            draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 6, (HEIGHT, WIDTH, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def photo_jpeg(seed: int = 7, quality: int = 90) -> bytes:
    """The JPEG encoding of `photo_array(seed)`."""
    buffer = io.BytesIO()
    Image.fromarray(photo_array(seed)).save(buffer, format='JPEG', quality=quality)
    return buffer.getvalue()


def decoded(jpeg: bytes) -> np.ndarray:
    """The RGB pixels a detector sees for `jpeg` (what a robot would send as a raw array)."""
    with Image.open(io.BytesIO(jpeg)) as image:
        return np.asarray(image.convert('RGB'))
