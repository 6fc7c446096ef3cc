"""Raw shards, what every image source writes: the Pick-a-Pic schema and contiguous shards.

Also the record of rows a source reader dropped (``DropLog``), shared by the image and text
readers. A raw shard is a Parquet file of :data:`RAW_SCHEMA` rows, a contiguous ascending range of
pair_index (see :func:`shard_bounds`), so that everything computed from it can be joined back in
pair order whatever the shard count.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

# The columns the pipeline reads from a raw shard, in the Pick-a-Pic schema, plus pair_index.
RAW_SCHEMA = pa.schema(
    [
        ("pair_index", pa.int64()),
        ("caption", pa.string()),
        ("jpg_0", pa.binary()),
        ("jpg_1", pa.binary()),
        ("label_0", pa.float64()),
        ("label_1", pa.float64()),
        ("user_id", pa.int64()),
        ("ranking_id", pa.int64()),
        ("image_0_uid", pa.string()),
        ("image_1_uid", pa.string()),
    ]
)


def shard_bounds(n_pairs: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) pair ranges, ascending, as equal as possible."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    edges = [n_pairs * shard // shards for shard in range(shards + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


@dataclasses.dataclass
class DropLog:
    """Rows a source reader saw and kept, with the first few dropped rows (file and row)."""

    seen: int = 0
    kept: int = 0
    examples: list[str] = dataclasses.field(default_factory=list)

    def note(self, message: str) -> None:
        """Keep ``message`` as an example if fewer than 10 are kept yet."""
        if len(self.examples) < 10:
            self.examples.append(message)
