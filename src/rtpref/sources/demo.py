"""The offline demo source: procedurally drawn image pairs with captions, in the Pick-a-Pic schema.

Every pair is drawn from its own generator ``np.random.default_rng([seed, pair_index])``, so a
pair's caption and images do not depend on how pairs are split into shards. A caption describes
a "prompt" scene (shape, colour, size, texture, background); each of the two images keeps every
attribute of the prompt with probability ``match_probability`` and redraws it otherwise, so the
two images of a pair differ in varied, partly prompt-related ways, as in Pick-a-Pic.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

from rtpref.sources.raw import RAW_SCHEMA, shard_bounds

log = logging.getLogger(__name__)

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 70),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "purple": (140, 60, 180),
    "orange": (245, 140, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "pink": (240, 130, 180),
    "teal": (30, 160, 160),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "grey": (128, 128, 128),
    "sky blue": (150, 200, 240),
    "sand": (220, 200, 150),
    "dark": (35, 35, 50),
    "mint": (180, 235, 200),
    "cream": (250, 240, 220),
}
SHAPES = ("circle", "square", "triangle", "star", "ring", "cross", "diamond")
SIZES = {"small": 0.22, "medium": 0.36, "large": 0.5}
TEXTURES = ("plain", "striped", "dotted", "checkered", "noisy", "gradient")
COUNTS = {1: "a", 2: "two", 3: "three"}


@dataclasses.dataclass(frozen=True)
class Scene:
    """What one image shows; a caption describes one scene."""

    shape: str
    colour: str
    size: str
    texture: str
    background: str
    count: int

    def caption(self) -> str:
        noun = self.shape if self.count == 1 else f"{self.shape}s"
        texture = "" if self.texture == "plain" else f"{self.texture} "
        return (
            f"{COUNTS[self.count]} {self.size} {texture}{self.colour} {noun} "
            f"on a {self.background} background"
        )


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    n_pairs: int = 6000
    seed: int = 0
    image_size: int = 64
    match_probability: float = 0.5
    jpeg_quality: int = 90


def _random_scene(rng: np.random.Generator) -> Scene:
    return Scene(
        shape=SHAPES[rng.integers(len(SHAPES))],
        colour=list(COLOURS)[rng.integers(len(COLOURS))],
        size=list(SIZES)[rng.integers(len(SIZES))],
        texture=TEXTURES[rng.integers(len(TEXTURES))],
        background=list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))],
        count=int(rng.integers(1, len(COUNTS) + 1)),
    )


def _variant(prompt: Scene, rng: np.random.Generator, match_probability: float) -> Scene:
    """The prompt's scene with each attribute independently redrawn with 1 - match_probability."""
    other = _random_scene(rng)
    keep = rng.random(len(dataclasses.fields(Scene))) < match_probability
    values = {
        field.name: getattr(prompt if kept else other, field.name)
        for field, kept in zip(dataclasses.fields(Scene), keep, strict=True)
    }
    return Scene(**values)


def _quarter_turns(x: float, y: float, turns: int) -> tuple[float, float]:
    for _ in range(turns):
        x, y = -y, x
    return x, y


def _shape_polygon(shape: str, cx: float, cy: float, radius: float, angle: float) -> list:
    if shape == "square":
        corners = 4
        offsets = np.pi / 4 + angle + np.arange(corners) * 2 * np.pi / corners
        return [(cx + radius * np.cos(t), cy + radius * np.sin(t)) for t in offsets]
    if shape == "diamond":
        offsets = angle + np.arange(4) * np.pi / 2
        scales = [radius, 0.6 * radius, radius, 0.6 * radius]
        return [
            (cx + s * np.cos(t), cy + s * np.sin(t)) for t, s in zip(offsets, scales, strict=True)
        ]
    if shape == "triangle":
        offsets = -np.pi / 2 + angle + np.arange(3) * 2 * np.pi / 3
        return [(cx + radius * np.cos(t), cy + radius * np.sin(t)) for t in offsets]
    if shape == "star":
        offsets = -np.pi / 2 + angle + np.arange(10) * np.pi / 5
        scales = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
        return [
            (cx + s * np.cos(t), cy + s * np.sin(t)) for t, s in zip(offsets, scales, strict=True)
        ]
    if shape == "cross":
        w = radius / 3
        arm = [(-w, -radius), (w, -radius), (w, -w)]
        # Four copies of one arm, rotated by quarter turns, trace the cross outline.
        points = [_quarter_turns(x, y, turn) for turn in range(4) for x, y in arm]
        cos, sin = np.cos(angle), np.sin(angle)
        return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in points]
    raise ValueError(f"no polygon for shape {shape!r}")


def _texture(texture: str, colour: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """An (size, size, 3) uint8 fill pattern in ``colour``; the shape mask cuts it out."""
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.broadcast_to(colour.astype(np.float64), (size, size, 3)).copy()
    period = int(rng.integers(4, 10))
    if texture == "striped":
        theta = rng.uniform(0, np.pi)
        band = ((xx * np.cos(theta) + yy * np.sin(theta)) // (period / 2)) % 2 == 0
        base[band] *= 0.45
    elif texture == "dotted":
        dots = ((xx % period) - period / 2) ** 2 + ((yy % period) - period / 2) ** 2
        base[dots < (period / 3.5) ** 2] = 255 - colour
    elif texture == "checkered":
        base[((xx // period) + (yy // period)) % 2 == 0] *= 0.5
    elif texture == "noisy":
        base += rng.normal(0, 45, size=(size, size, 1))
    elif texture == "gradient":
        base *= (0.35 + 0.65 * xx / max(size - 1, 1))[..., None]
    return np.clip(base, 0, 255).astype(np.uint8)


def draw_scene(scene: Scene, size: int, rng: np.random.Generator) -> Image.Image:
    """Render ``scene`` as an RGB image; positions, rotation and jitter come from ``rng``."""
    background = np.asarray(BACKGROUNDS[scene.background], dtype=np.float64)
    jitter = rng.normal(0, 12, size=3)
    canvas = Image.new("RGB", (size, size), tuple(np.clip(background + jitter, 0, 255).astype(int)))
    colour = np.clip(np.asarray(COLOURS[scene.colour]) + rng.normal(0, 15, size=3), 0, 255)
    fill = Image.fromarray(_texture(scene.texture, colour, size, rng))
    radius = SIZES[scene.size] * size / (1.0 + 0.35 * (scene.count - 1))
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(scene.count):
        margin = min(radius, size / 2 - 1)
        cx, cy = rng.uniform(margin, size - margin, size=2)
        angle = rng.uniform(0, 2 * np.pi)
        box = [cx - radius, cy - radius, cx + radius, cy + radius]
        if scene.shape == "circle":
            draw.ellipse(box, fill=255)
        elif scene.shape == "ring":
            draw.ellipse(box, outline=255, width=max(2, int(radius / 3)))
        else:
            draw.polygon(_shape_polygon(scene.shape, cx, cy, radius, angle), fill=255)
    canvas.paste(fill, (0, 0), mask)
    return canvas


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def make_pair(pair_index: int, config: DemoConfig) -> dict:
    """One pair in the Pick-a-Pic schema, a function of (config.seed, pair_index) only."""
    rng = np.random.default_rng([config.seed, pair_index])
    prompt = _random_scene(rng)
    images = [
        draw_scene(_variant(prompt, rng, config.match_probability), config.image_size, rng)
        for _ in range(2)
    ]
    # Human labels are not used (choices are simulated from rewards); a coin keeps the schema.
    first_wins = bool(rng.random() < 0.5)
    return {
        "pair_index": pair_index,
        "caption": prompt.caption(),
        "jpg_0": encode_jpeg(images[0], config.jpeg_quality),
        "jpg_1": encode_jpeg(images[1], config.jpeg_quality),
        "label_0": 1.0 if first_wins else 0.0,
        "label_1": 0.0 if first_wins else 1.0,
        "user_id": int(rng.integers(1, 500)),
        "ranking_id": pair_index,
        "image_0_uid": f"demo-{config.seed}-{pair_index}-0",
        "image_1_uid": f"demo-{config.seed}-{pair_index}-1",
    }


def make_shard(
    start: int, stop: int, config: DemoConfig, batch_rows: int = 512
) -> Iterator[pa.Table]:
    """Tables of pairs [start, stop) in RAW_SCHEMA, ``batch_rows`` rows at a time."""
    for lo in range(start, stop, batch_rows):
        rows = [make_pair(index, config) for index in range(lo, min(stop, lo + batch_rows))]
        yield pa.Table.from_pylist(rows, schema=RAW_SCHEMA)


def write_demo_shards(
    config: DemoConfig, paths: Sequence[str | Path], row_group_rows: int = 512
) -> None:
    """Write all demo pairs as ``len(paths)`` contiguous raw shards, each atomically."""
    from rtpref.io import atomic_path

    for path, (start, stop) in zip(paths, shard_bounds(config.n_pairs, len(paths)), strict=True):
        with atomic_path(path) as temporary, pq.ParquetWriter(temporary, RAW_SCHEMA) as writer:
            for table in make_shard(start, stop, config, row_group_rows):
                writer.write_table(table)
        log.info("%s: pairs [%d, %d)", path, start, stop)
