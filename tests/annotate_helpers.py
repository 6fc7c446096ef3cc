"""Small items tables for the annotation tests, built locally in milliseconds."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

# Runs if a caption reaches the page as markup: the tests look for window.__rtpref_injected.
SCRIPT_CAPTION = ('<script>window.__rtpref_injected = 1</script>'
                  '<img src=x onerror="window.__rtpref_injected = 2">')
COLOURS = ["#d33", "#3a3", "#36c", "#c90", "#939", "#099"]


def png(colour: str, size: int = 192) -> bytes:
    image = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(image).ellipse((16, 16, size - 16, size - 16), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_image_items(path: Path, count: int = 6) -> list[str]:
    """Image items ``item0``…; item0's caption is a script injection attempt. Returns captions."""
    captions = [SCRIPT_CAPTION] + [f"caption {index}: a {COLOURS[index % 6]} disc"
                                   for index in range(1, count)]
    pq.write_table(pa.table({
        "item_id": [f"item{index}" for index in range(count)],
        "image": pa.array([png(COLOURS[index % 6]) for index in range(count)], pa.binary()),
        "caption": captions,
    }), path)
    return captions


def write_pairs(path: Path, pairs: list[tuple[str, str]]) -> None:
    pq.write_table(pa.table({"item_1": [a for a, _ in pairs], "item_2": [b for _, b in pairs]}),
                   path)
