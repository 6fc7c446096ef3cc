"""Text preference pairs as raw shards: deduplication, drop limits, presentation order.

The pairs come from ``rtpref.sources.text_format`` (dataset layouts, unusable rows). Here a
repeat of an earlier pair is dropped too and counted; the log names the file and row of the
first dropped rows. More dropped rows than ``max_dropped_fraction`` is an error. Kept pairs get
``pair_index`` in dataset order, and a seeded coin decides which response is presented first,
so the chosen one is not always item 1. ``prompt_id`` numbers distinct prompts and
``response_*_id`` distinct (prompt, response) pairs, so pairs of one prompt can be grouped
(best-of-k reranking).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rtpref.data import DataError
from rtpref.io import atomic_path
from rtpref.sources.raw import shard_bounds
from rtpref.sources.text_format import TextConfig, TextDrops, TextPair, read_pairs

__all__ = [
    "TEXT_RAW_SCHEMA",
    "TextConfig",
    "TextDrops",
    "collect_pairs",
    "group_table",
    "pairs_table",
    "write_raw",
    "write_text_shards",
]

log = logging.getLogger(__name__)

# A raw text shard: what the score and embed rules read, one row per presented pair.
TEXT_RAW_SCHEMA = pa.schema(
    [
        ("pair_index", pa.int64()),
        ("prompt_id", pa.int64()),
        ("prompt", pa.string()),
        ("response_1", pa.string()),
        ("response_2", pa.string()),
        ("response_1_id", pa.int64()),
        ("response_2_id", pa.int64()),
        # 1 if the dataset's annotator chose response_1; kept for reference, not used to train.
        ("human_choice", pa.int8()),
        # "file:row" of the dataset row the pair came from.
        ("origin", pa.string()),
    ]
)


def collect_pairs(config: TextConfig) -> tuple[pa.Table, TextDrops]:
    """Kept pairs as a table in TEXT_RAW_SCHEMA (without the shard split), and the drop counts."""
    drops = TextDrops()
    seen: set[tuple[str, str, str]] = set()
    kept: list[TextPair] = []
    for pair in read_pairs(config, drops):
        key = (pair.prompt, pair.chosen, pair.rejected)
        if key in seen:
            drops.drop("duplicates", pair.origin, "repeats an earlier pair")
            continue
        seen.add(key)
        kept.append(pair)
        if config.sample_size is not None and len(kept) >= config.sample_size:
            break
    drops.kept = len(kept)
    if not kept:
        raise DataError(f"text dataset: no usable pairs ({drops.summary()})")
    if config.sample_size is not None and len(kept) < config.sample_size:
        raise DataError(
            f"text dataset: only {len(kept)} usable pairs but text.sample_size is "
            f"{config.sample_size} ({drops.summary()}); lower sample_size (and sizes)"
        )
    if drops.dropped > config.max_dropped_fraction * drops.seen:
        raise DataError(
            f"text dataset: {drops.dropped} of {drops.seen} rows dropped, more than "
            f"text.max_dropped_fraction={config.max_dropped_fraction} ({drops.summary()}); "
            f"first: {'; '.join(drops.examples[:3])}. Check text.format and the column keys"
        )
    chosen_first = np.random.default_rng(config.order_seed).random(len(kept)) < 0.5
    return pairs_table(
        [pair.prompt for pair in kept],
        [pair.chosen for pair in kept],
        [pair.rejected for pair in kept],
        chosen_first,
        [pair.origin for pair in kept],
    ), drops


def pairs_table(
    prompts: Sequence[str],
    preferred: Sequence[str],
    other: Sequence[str],
    preferred_first: np.ndarray,
    origins: Sequence[str],
) -> pa.Table:
    """Pairs in TEXT_RAW_SCHEMA, ``preferred`` presented first where ``preferred_first``."""
    prompt_ids: dict[str, int] = {}
    response_ids: dict[tuple[str, str], int] = {}

    def response_id(prompt: str, response: str) -> int:
        return response_ids.setdefault((prompt, response), len(response_ids))

    rows = {name: [] for name in TEXT_RAW_SCHEMA.names}
    for index, (prompt, good, bad, first, origin) in enumerate(
        zip(prompts, preferred, other, preferred_first.tolist(), origins, strict=True)
    ):
        response_1, response_2 = (good, bad) if first else (bad, good)
        rows["pair_index"].append(index)
        rows["prompt_id"].append(prompt_ids.setdefault(prompt, len(prompt_ids)))
        rows["prompt"].append(prompt)
        rows["response_1"].append(response_1)
        rows["response_2"].append(response_2)
        rows["response_1_id"].append(response_id(prompt, response_1))
        rows["response_2_id"].append(response_id(prompt, response_2))
        rows["human_choice"].append(1 if first else 0)
        rows["origin"].append(origin)
    return pa.table(rows, schema=TEXT_RAW_SCHEMA)


def write_text_shards(table: pa.Table, paths: Sequence[str | Path]) -> None:
    """Write ``table`` as ``len(paths)`` contiguous shards of pair_index, each atomically."""
    for path, (start, stop) in zip(paths, shard_bounds(table.num_rows, len(paths)), strict=True):
        with atomic_path(path) as temporary:
            pq.write_table(table.slice(start, stop - start), temporary)
        log.info("%s: pairs [%d, %d)", path, start, stop)


GROUP_COLUMNS = ("pair_index", "prompt_id", "response_1_id", "response_2_id")


def group_table(raw_paths: Sequence[str | Path]) -> pa.Table:
    """pair_index -> prompt_id and response ids, from all raw shards: which items share a prompt.

    Best-of-k reranking groups the test items of one prompt; a response id names an item, so
    the same response met in two pairs counts once.
    """
    tables = []
    for path in raw_paths:
        try:
            tables.append(pq.read_table(path, columns=list(GROUP_COLUMNS)))
        except (pa.ArrowInvalid, OSError, KeyError) as error:
            raise DataError(f"{path}: no readable {list(GROUP_COLUMNS)} ({error})") from error
    return pa.concat_tables(tables).sort_by("pair_index")


def write_raw(config: TextConfig, paths: Sequence[str | Path]) -> TextDrops:
    """Read the configured dataset and write its kept pairs as raw text shards."""
    table, drops = collect_pairs(config)
    log.info("%s", drops.summary())
    for example in drops.examples:
        log.info("dropped %s", example)
    write_text_shards(table, paths)
    return drops
