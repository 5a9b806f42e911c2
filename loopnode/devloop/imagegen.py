"""Deterministic generator of 640x480 JPEGs with coloured shapes and their annotations (pure, no I/O).

Every category gets one stable, saturated colour (`category_color`). Backgrounds are gradients, noise or
textures of low saturation, so a classic colour-statistics detector can tell shapes from background.
Boxes are filled rectangles or ellipses (the annotation is their bounding box); points are small discs.
"""
from __future__ import annotations

import colorsys
import io
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

WIDTH = 640
HEIGHT = 480
MAX_BACKGROUND_SATURATION = 0.18  # shapes have >= 0.75: far apart in HSV

# Hues (degrees) spaced so neighbours stay distinguishable after JPEG compression.
_PALETTE_HUES = (0, 120, 220, 55, 280, 180, 25, 320, 90, 250)
_PALETTE_SATURATION = 0.85
_PALETTE_VALUE = 0.9


def category_color(index: int) -> tuple[int, int, int]:
    """The stable RGB colour of the category with this index (palette order; repeats after 10)."""
    hue = _PALETTE_HUES[index % len(_PALETTE_HUES)] / 360.0
    r, g, b = colorsys.hsv_to_rgb(hue, _PALETTE_SATURATION, _PALETTE_VALUE)
    return round(r * 255), round(g * 255), round(b * 255)


def color_hex(rgb: tuple[int, int, int]) -> str:
    """'#RRGGBB' for an RGB tuple (the Category `color` format)."""
    return '#{:02X}{:02X}{:02X}'.format(*rgb)


def hex_color(value: str) -> tuple[int, int, int]:
    """RGB tuple of a '#RRGGBB' string; ValueError for anything else."""
    text = value.strip().lstrip('#')
    if len(text) != 6:
        raise ValueError(f'not a #RRGGBB colour: {value!r}')
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


PURPLE = (150, 40, 210)  # the demo's `purple point`


@dataclass(frozen=True)
class ShapeStyle:
    """A category as the generator sees it: its name, id and colour."""
    category_name: str
    category_id: str
    color: tuple[int, int, int]
    point_size: int = 20


@dataclass(frozen=True)
class BoxShape:
    category: ShapeStyle
    x: int
    y: int
    width: int
    height: int
    ellipse: bool


@dataclass(frozen=True)
class PointShape:
    category: ShapeStyle
    x: float
    y: float


@dataclass
class GeneratedImage:
    jpeg: bytes
    width: int
    height: int
    boxes: list[BoxShape] = field(default_factory=list)
    points: list[PointShape] = field(default_factory=list)


def _low_saturation_color(rng: random.Random) -> tuple[float, float, float]:
    hue = rng.random()
    saturation = rng.uniform(0.0, MAX_BACKGROUND_SATURATION)
    value = rng.uniform(0.25, 0.9)
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return r * 255, g * 255, b * 255


def _background(rng: random.Random, nprng: np.random.Generator) -> np.ndarray:
    """HxWx3 float array: a gradient, noise or texture; low saturation everywhere."""
    kind = rng.choice(('gradient', 'noise', 'texture'))
    c1 = np.array(_low_saturation_color(rng))
    c2 = np.array(_low_saturation_color(rng))
    if kind == 'gradient':
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
        t = (xx * np.cos(angle) + yy * np.sin(angle))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
        img = c1 + (c2 - c1) * t[..., None]
    elif kind == 'noise':
        coarse = nprng.random((HEIGHT // 16 + 1, WIDTH // 16 + 1)).astype(np.float32)
        blobs = np.kron(coarse, np.ones((16, 16), dtype=np.float32))[:HEIGHT, :WIDTH]
        img = c1 + (c2 - c1) * blobs[..., None]
    else:
        period = rng.randint(12, 48)
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        if rng.random() < 0.5:
            pattern = ((xx // period + yy // period) % 2).astype(np.float32)
        else:
            pattern = (0.5 + 0.5 * np.sin((xx + yy * rng.uniform(0, 1)) * 2 * np.pi / period)).astype(np.float32)
        img = c1 + (c2 - c1) * pattern[..., None]
    # grey noise keeps the saturation low (same offset on every channel)
    noise = nprng.normal(0.0, 6.0, (HEIGHT, WIDTH, 1)).astype(np.float32)
    return np.clip(img + noise, 0, 255)


def _overlaps(box: tuple[int, int, int, int], others: list[tuple[int, int, int, int]], margin: int) -> bool:
    x, y, w, h = box
    for ox, oy, ow, oh in others:
        if x < ox + ow + margin and ox < x + w + margin and y < oy + oh + margin and oy < y + h + margin:
            return True
    return False


def _place(rng: random.Random, w: int, h: int, taken: list[tuple[int, int, int, int]]) -> tuple[int, int] | None:
    for _ in range(60):
        x = rng.randint(4, WIDTH - w - 4)
        y = rng.randint(4, HEIGHT - h - 4)
        if not _overlaps((x, y, w, h), taken, margin=6):
            return x, y
    return None


def generate_image(seed: int, box_styles: list[ShapeStyle], point_styles: list[ShapeStyle], *,
                   boxes_per_image: tuple[int, int] = (1, 3), points_per_image: tuple[int, int] = (1, 3),
                   quality: int = 90) -> GeneratedImage:
    """A JPEG with shapes of the given categories (same seed, same image) and their pixel annotations."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    canvas = Image.fromarray(_background(rng, nprng).astype(np.uint8), 'RGB')
    draw = ImageDraw.Draw(canvas)
    taken: list[tuple[int, int, int, int]] = []
    boxes: list[BoxShape] = []
    points: list[PointShape] = []
    if box_styles:
        for _ in range(rng.randint(*boxes_per_image)):
            style = rng.choice(box_styles)
            w, h = rng.randint(30, 140), rng.randint(30, 140)
            spot = _place(rng, w, h, taken)
            if spot is None:
                continue
            x, y = spot
            ellipse = rng.random() < 0.4
            corners = (x, y, x + w - 1, y + h - 1)
            (draw.ellipse if ellipse else draw.rectangle)(corners, fill=style.color)
            taken.append((x, y, w, h))
            boxes.append(BoxShape(style, x, y, w, h, ellipse))
    if point_styles:
        for _ in range(rng.randint(*points_per_image)):
            style = rng.choice(point_styles)
            diameter = max(20, style.point_size)
            spot = _place(rng, diameter, diameter, taken)
            if spot is None:
                continue
            x, y = spot
            draw.ellipse((x, y, x + diameter - 1, y + diameter - 1), fill=style.color)
            taken.append((x, y, diameter, diameter))
            points.append(PointShape(style, x + diameter / 2, y + diameter / 2))
    out = io.BytesIO()
    canvas.save(out, format='JPEG', quality=quality)
    return GeneratedImage(out.getvalue(), WIDTH, HEIGHT, boxes, points)
