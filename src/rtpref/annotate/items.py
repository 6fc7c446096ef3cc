"""The items an annotator compares: images with captions, texts with prompts, or 2-D shapes.

The items table is Parquet with a string ``item_id`` and one of three payloads:
``image`` (PNG or JPEG bytes) with an optional ``caption``; ``prompt`` and ``text``; or
``points`` (a list of ``[x, y]`` pairs, drawn as an SVG polyline in the page).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ItemKind = Literal["image", "text", "shape"]

# Browsers sniff image types; only the two formats named in the table's contract are served,
# each with its own Content-Type, so a crafted "image" (HTML, SVG with script) is never served.
IMAGE_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


class ItemsError(ValueError):
    """The items table cannot be used; the message names the file, column and row."""


@dataclass(frozen=True)
class Items:
    """Items held in memory, addressed by their position ``index`` in the table."""

    path: Path
    kind: ItemKind
    ids: list[str]
    captions: list[str]  # image caption, or the text's prompt; "" when absent
    texts: list[str]  # the text itself (text items only)
    images: list[bytes]  # image bytes (image items only)
    image_types: list[str]
    points: list[list[tuple[float, float]]]  # shape items only

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self) -> dict[str, int]:
        return {item_id: index for index, item_id in enumerate(self.ids)}

    def payload(self, index: int) -> dict[str, Any]:
        """What the page needs to draw one item (plain data; the page inserts text as text)."""
        if self.kind == "image":
            return {"kind": "image", "image_url": f"/api/image/{index}",
                    "caption": self.captions[index]}
        if self.kind == "text":
            return {"kind": "text", "prompt": self.captions[index], "text": self.texts[index]}
        return {"kind": "shape", "points": self.points[index]}


def _column(table: Any, name: str) -> list[Any]:
    return table.column(name).to_pylist()


def _strings(path: Path, table: Any, name: str, required: bool = True) -> list[str]:
    if name not in table.column_names:
        if required:
            raise ItemsError(f"{path}: column {name!r} is missing")
        return [""] * table.num_rows
    values = _column(table, name)
    for row, value in enumerate(values):
        if not isinstance(value, str):
            raise ItemsError(f"{path}: column {name!r}, row {row}: expected a string, got "
                             f"{type(value).__name__}")
    return values


def image_type(data: bytes) -> str | None:
    """The Content-Type of PNG or JPEG bytes, or None for anything else."""
    for signature, content_type in IMAGE_SIGNATURES.items():
        if data.startswith(signature):
            return content_type
    return None


def _shape(path: Path, row: int, value: Any) -> list[tuple[float, float]]:
    problem = None
    if not isinstance(value, list) or len(value) < 2:
        problem = "expected a list of at least two [x, y] points"
    else:
        for point in value:
            if (not isinstance(point, list | tuple) or len(point) != 2
                    or not all(isinstance(c, int | float) and math.isfinite(c) for c in point)):
                problem = f"expected [x, y] pairs of finite numbers, got {point!r}"
                break
    if problem:
        raise ItemsError(f"{path}: column 'points', row {row}: {problem}")
    return [(float(x), float(y)) for x, y in value]


def load_items(path: str | Path) -> Items:
    """Read and check an items table; raise ItemsError naming file, column and row."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as error:
        raise ItemsError(f"{path}: not a readable Parquet file ({error})") from error
    ids = _strings(path, table, "item_id")
    if not ids:
        raise ItemsError(f"{path}: the items table has no rows")
    seen: dict[str, int] = {}
    for row, item_id in enumerate(ids):
        if item_id in seen:
            raise ItemsError(f"{path}: column 'item_id', row {row}: {item_id!r} repeats row "
                             f"{seen[item_id]}; item ids must be unique")
        seen[item_id] = row
    names = set(table.column_names)
    empty: list[Any] = []
    if "image" in names:
        images = _column(table, "image")
        types = []
        for row, data in enumerate(images):
            content_type = image_type(data) if isinstance(data, bytes) else None
            if content_type is None:
                raise ItemsError(f"{path}: column 'image', row {row}: not PNG or JPEG bytes")
            types.append(content_type)
        return Items(path, "image", ids, _strings(path, table, "caption", required=False),
                     empty, images, types, empty)
    if "text" in names:
        return Items(path, "text", ids, _strings(path, table, "prompt"),
                     _strings(path, table, "text"), empty, empty, empty)
    if "points" in names:
        points = [_shape(path, row, value) for row, value in enumerate(_column(table, "points"))]
        return Items(path, "shape", ids, [""] * len(ids), empty, empty, empty, points)
    raise ItemsError(f"{path}: no item payload: give an 'image' column (PNG/JPEG bytes, with "
                     f"'caption'), 'prompt' and 'text' columns, or a 'points' column")
