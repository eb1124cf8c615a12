"""Synthetic out-of-scope images (charts, tables, text screenshots, UI mock-ups, crude outdoor scenes) drawn with PIL.

A trained router gets an explicit ``out_of_scope`` class from these, because max-softmax thresholds alone are weak
OOD detectors for CNNs (Hendrycks et al. 2019, "Deep anomaly detection with outlier exposure"). They are not photos.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter

_WORDS = [
    "patient",
    "cells",
    "passage",
    "ratio",
    "sorted",
    "total",
    "group",
    "control",
    "mean",
    "value",
    "week",
    "dose",
    "figure",
    "table",
    "result",
]
Color = tuple[int, int, int]


def _color(rng: random.Random, low: int = 0, high: int = 255) -> Color:
    return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))


def _canvas(rng: random.Random, background: Color | None = None) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    width, height = rng.randint(160, 420), rng.randint(140, 320)
    image = Image.new("RGB", (width, height), background or _color(rng, 225, 255))
    return image, ImageDraw.Draw(image)


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(count))


def _axes(draw: ImageDraw.ImageDraw, width: int, height: int, rng: random.Random) -> tuple[int, int, int, int]:
    left, bottom, right, top = int(width * 0.12), int(height * 0.85), int(width * 0.95), int(height * 0.1)
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=(20, 20, 20), width=2)
    for tick in range(5):
        y = bottom - tick * (bottom - top) // 4
        draw.line([(left - 4, y), (left, y)], fill=(20, 20, 20))
        draw.text((2, y - 5), str(tick * rng.choice((5, 10, 25))), fill=(30, 30, 30))
    draw.text((left + 5, 1), _words(rng, 4), fill=(10, 10, 10))
    return left, bottom, right, top


def bar_chart(rng: random.Random) -> Image.Image:
    image, draw = _canvas(rng)
    left, bottom, right, top = _axes(draw, image.width, image.height, rng)
    bars = rng.randint(2, 8)
    step = (right - left) // (bars + 1)
    for bar in range(bars):
        x = left + step // 2 + bar * step
        height = rng.randint(5, bottom - top)
        draw.rectangle([x, bottom - height, x + max(3, step * 2 // 3), bottom], fill=_color(rng, 30, 230))
    return image


def line_plot(rng: random.Random) -> Image.Image:
    image, draw = _canvas(rng)
    left, bottom, right, top = _axes(draw, image.width, image.height, rng)
    for series in range(rng.randint(1, 4)):
        color = _color(rng, 0, 220)
        points = [(x, rng.randint(top, bottom)) for x in range(left, right, max(6, (right - left) // 12))]
        draw.line(points, fill=color, width=rng.randint(1, 3))
        for x, y in points:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=color)
        draw.text((right - 70, top + 12 * series), _words(rng, 1), fill=color)
    return image


def scatter_plot(rng: random.Random) -> Image.Image:
    image, draw = _canvas(rng)
    left, bottom, right, top = _axes(draw, image.width, image.height, rng)
    color = _color(rng, 0, 200)
    for _ in range(rng.randint(20, 150)):
        x, y = rng.randint(left + 3, right), rng.randint(top, bottom - 3)
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=color)
    return image


def text_screenshot(rng: random.Random) -> Image.Image:
    dark = rng.random() < 0.3
    image, draw = _canvas(rng, (30, 30, 35) if dark else _color(rng, 235, 255))
    ink = (220, 220, 220) if dark else (20, 20, 20)
    for y in range(6, image.height - 10, rng.randint(12, 18)):
        draw.text((rng.randint(4, 14), y), _words(rng, rng.randint(3, 12)), fill=ink)
    return image


def table(rng: random.Random) -> Image.Image:
    image, draw = _canvas(rng)
    rows, cols = rng.randint(3, 10), rng.randint(2, 6)
    cell_w, cell_h = image.width // cols, image.height // rows
    for row in range(rows):
        for col in range(cols):
            x, y = col * cell_w, row * cell_h
            draw.rectangle([x, y, x + cell_w, y + cell_h], outline=(60, 60, 60))
            label = _words(rng, 1) if row == 0 else f"{rng.uniform(0, 100):.1f}"
            draw.text((x + 4, y + 3), label, fill=(10, 10, 10))
    return image


def ui_mockup(rng: random.Random) -> Image.Image:
    image, draw = _canvas(rng)
    draw.rectangle([0, 0, image.width, 22], fill=_color(rng, 40, 200))
    draw.text((6, 5), _words(rng, 3), fill=(255, 255, 255))
    for _ in range(rng.randint(3, 8)):
        x, y = rng.randint(0, image.width - 60), rng.randint(26, image.height - 24)
        draw.rounded_rectangle([x, y, x + rng.randint(40, 120), y + 20], radius=5, fill=_color(rng, 120, 250))
        draw.text((x + 5, y + 5), _words(rng, 1), fill=(0, 0, 0))
    return image


def outdoor_scene(rng: random.Random) -> Image.Image:
    """Sky gradient, ground, and a few shapes with texture: a stand-in for 'a natural photograph'."""
    width, height = rng.randint(160, 400), rng.randint(140, 300)
    sky, ground = _color(rng, 90, 255), _color(rng, 20, 160)
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = rng.randint(height // 3, height * 2 // 3)
    for y in range(height):
        base = sky if y < horizon else ground
        shade = 1.0 - 0.4 * (y / height if y < horizon else (y - horizon) / max(1, height - horizon))
        draw.line([(0, y), (width, y)], fill=tuple(int(c * shade) for c in base))
    for _ in range(rng.randint(2, 8)):
        x, y, size = rng.randint(0, width), rng.randint(0, height), rng.randint(10, 80)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x, y, x + size, y + size * rng.uniform(0.5, 2.0)], fill=_color(rng))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.5)))


GENERATORS: tuple[Callable[[random.Random], Image.Image], ...] = (
    bar_chart,
    line_plot,
    scatter_plot,
    text_screenshot,
    table,
    ui_mockup,
    outdoor_scene,
)


def synthetic_negatives(count: int, seed: int = 0) -> list[Image.Image]:
    """``count`` out-of-scope images cycling through every generator; the same seed gives the same images."""
    rng = random.Random(seed)
    return [GENERATORS[number % len(GENERATORS)](rng) for number in range(count)]
