"""Your own data (source ``recorded``): choices and response times that people made.

A pairs file is Parquet with one row per recorded choice:

- ``choice``: 1 if the first item was preferred; the second item is coded -1 or 0 (choices
  coded +1/-1 or 1/0, one coding across all files);
- ``response_time``: seconds from showing the pair to the choice, finite and > 0;
- either ``x1``, ``x2``: features of the two items (fixed-size or equal-length lists of floats,
  one width throughout), or ``item_1``, ``item_2``: ``item_id`` strings into an items table
  (``item_id``, ``image`` (encoded image bytes), ``caption``) that is embedded first;
- optionally ``user_id``.

Every check runs before anything is trained, and a failure names the file, column and row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from rtpref.chunks import features_to_arrow
from rtpref.data import DataError, read_parquet

log = logging.getLogger(__name__)

REQUIRED = ("choice", "response_time")
FEATURE_PAIR = ("x1", "x2")
ITEM_PAIR = ("item_1", "item_2")
ITEM_COLUMNS = ("item_id", "image", "caption")
# Within-file row numbers in messages count from 0, as pyarrow and pandas do.
ROW_NOTE = "rows count from 0"


def _first_row(mask: NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _refuse(path: str | Path, column: str, mask: NDArray[np.bool_], what: str, fix: str) -> None:
    if mask.any():
        raise DataError(
            f"{path}: column {column!r}, row {_first_row(mask)} ({ROW_NOTE}): {what} "
            f"({int(mask.sum())} row(s) in all); {fix}"
        )


def _nulls(column: pa.ChunkedArray | pa.Array) -> NDArray[np.bool_]:
    return np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def check_choices(
    path: str | Path, column: pa.ChunkedArray
) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    """(choices as +1/-1 int8, raw values); refuses nulls and anything but -1, 0, 1."""
    _refuse(path, "choice", _nulls(column), "missing choice", "every pair needs a choice")
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise DataError(f"{path}: column 'choice' has type {column.type}; expected numbers")
    values = column.to_numpy().astype(np.float64)
    bad = ~np.isin(values, (-1.0, 0.0, 1.0))
    _refuse(
        path,
        "choice",
        bad,
        f"value {values[bad][0] if bad.any() else ''} is not a choice",
        "code choices as 1 (first item preferred) and -1 or 0 (second item preferred)",
    )
    return np.where(values == 1.0, 1, -1).astype(np.int8), values


def check_times(path: str | Path, column: pa.ChunkedArray) -> NDArray[np.float64]:
    _refuse(path, "response_time", _nulls(column), "missing response time", "drop the row")
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise DataError(
            f"{path}: column 'response_time' has type {column.type}; expected seconds as numbers"
        )
    values = column.to_numpy().astype(np.float64)
    _refuse(
        path,
        "response_time",
        ~np.isfinite(values),
        "NaN or infinite response time",
        "response times must be finite seconds",
    )
    _refuse(
        path,
        "response_time",
        values <= 0,
        f"response time {values[values <= 0][0] if (values <= 0).any() else ''} is not > 0",
        "response times are seconds from showing the pair to the choice, > 0",
    )
    return values


def feature_matrix(path: str | Path, table: pa.Table, name: str) -> NDArray[np.float32]:
    """(rows, width) float32 from a list column, naming file, column and row on any problem."""
    column = table.column(name)
    _refuse(path, name, _nulls(column), "missing features", "every item needs features")
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = column.type
    if not (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        raise DataError(f"{path}: column {name!r} has type {kind}; expected a list of floats")
    if not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
        raise DataError(f"{path}: column {name!r} holds {kind.value_type}; expected floats")
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    if len(lengths) and np.any(lengths != lengths[0]):
        _refuse(
            path,
            name,
            lengths != lengths[0],
            f"{int(lengths[lengths != lengths[0]][0])} features where row 0 has {int(lengths[0])}",
            "all items need features of one width",
        )
    width = int(lengths[0]) if len(lengths) else 0
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.float32)
    matrix = flat.reshape(-1, width) if width else np.empty((len(column), 0), np.float32)
    _refuse(
        path,
        name,
        ~np.isfinite(matrix).all(axis=1),
        "NaN or infinite feature",
        "features must be finite",
    )
    return matrix


def pair_features(path: str | Path, table: pa.Table) -> tuple[NDArray, NDArray]:
    """x1, x2 of a table of pairs, of one width."""
    first = feature_matrix(path, table, "x1")
    second = feature_matrix(path, table, "x2")
    if first.shape[1] != second.shape[1]:
        raise DataError(
            f"{path}: column 'x1' has width {first.shape[1]} but column 'x2' width "
            f"{second.shape[1]} (row 0, {ROW_NOTE}); both items need features of one width"
        )
    return first, second


def item_feature_lookup(path: str | Path) -> tuple[dict[str, int], NDArray[np.float32]]:
    """item_id -> row of x in an item features table (from ``rtpref embed``)."""
    table = read_parquet(path)
    for name in ("item_id", "x"):
        if name not in table.column_names:
            raise DataError(f"{path}: missing column {name!r}; has {table.column_names}")
    ids = table.column("item_id").to_pylist()
    return {item: row for row, item in enumerate(ids)}, feature_matrix(path, table, "x")


def referenced_features(
    path: str | Path,
    table: pa.Table,
    lookup: dict[str, int],
    features: NDArray[np.float32],
    items_path: str | Path,
) -> tuple[NDArray, NDArray]:
    """x1, x2 of pairs that name items by item_1, item_2."""
    out = []
    for name in ITEM_PAIR:
        ids = table.column(name).to_pylist()
        rows = np.array([lookup.get(item, -1) if item is not None else -1 for item in ids])
        _refuse(
            path,
            name,
            rows < 0,
            f"item {ids[_first_row(rows < 0)]!r} is not in {items_path}"
            if (rows < 0).any()
            else "",
            "add the item to the items table or drop the pair",
        )
        out.append(features[rows])
    return out[0], out[1]


def read_recorded(
    pair_paths: Sequence[str | Path], item_features: str | Path | None = None
) -> tuple[pa.Table, pa.Table]:
    """(labels, features) of recorded pairs, numbered 0, 1, ... in file then row order.

    Labels have unknown (NaN) rewards; features are FixedSizeList<float32> x1, x2.
    """
    if not pair_paths:
        raise DataError("recorded.pairs: no files given; list your Parquet files of pairs")
    lookup = None
    labels, firsts, seconds = [], [], []
    codings: dict[float, tuple[str, int]] = {}
    width = None
    offset = 0
    for path in pair_paths:
        table = read_parquet(path)
        names = table.column_names
        missing = [name for name in REQUIRED if name not in names]
        has_features = all(name in names for name in FEATURE_PAIR)
        has_items = all(name in names for name in ITEM_PAIR)
        if missing or not (has_features or has_items):
            need = missing + ([] if has_features or has_items else ["x1, x2 or item_1, item_2"])
            raise DataError(f"{path}: missing column(s) {need}; has {names}")
        choice, raw_choice = check_choices(path, table.column("choice"))
        for coding in (0.0, -1.0):
            seen = np.flatnonzero(raw_choice == coding)
            if seen.size and coding not in codings:
                codings[coding] = (str(path), int(seen[0]))
        if len(codings) == 2:
            (zero_file, zero_row), (minus_file, minus_row) = codings[0.0], codings[-1.0]
            raise DataError(
                f"column 'choice' mixes codings: 0 in {zero_file} row {zero_row} and -1 in "
                f"{minus_file} row {minus_row} ({ROW_NOTE}); use 1/-1 or 1/0 throughout"
            )
        response_time = check_times(path, table.column("response_time"))
        if has_features:
            first, second = pair_features(path, table)
        else:
            if item_features is None:
                raise DataError(
                    f"{path}: pairs name items (item_1, item_2) but no items table is set; "
                    "set recorded.items to the Parquet file of items"
                )
            if lookup is None:
                lookup, item_matrix = item_feature_lookup(item_features)
            first, second = referenced_features(path, table, lookup, item_matrix, item_features)
        if width is not None and first.shape[1] != width:
            raise DataError(
                f"{path}: column 'x1' has width {first.shape[1]} (row 0, {ROW_NOTE}) but "
                f"{pair_paths[0]} has width {width}; all files need features of one width"
            )
        width = first.shape[1]
        rows = len(choice)
        columns = {
            "pair_index": np.arange(offset, offset + rows, dtype=np.int64),
            "reward_1": np.full(rows, np.nan),
            "reward_2": np.full(rows, np.nan),
            "choice": choice,
            "response_time": response_time,
        }
        if "user_id" in names:
            columns["user_id"] = table.column("user_id").cast(pa.string())
        labels.append(pa.table(columns))
        firsts.append(first)
        seconds.append(second)
        offset += rows
    if offset < 2:
        raise DataError(f"{', '.join(map(str, pair_paths))}: fewer than 2 recorded pairs")
    label_table = pa.concat_tables(labels, promote_options="default")
    features = pa.table(
        {
            "pair_index": label_table.column("pair_index"),
            "x1": features_to_arrow(np.concatenate(firsts)),
            "x2": features_to_arrow(np.concatenate(seconds)),
        }
    )
    log.info("%d recorded pairs from %d file(s), feature width %d", offset, len(pair_paths), width)
    return label_table, features


# ---------------------------------------------------------------------------------------------
# Items: images with captions -> features with an image-text embedder.


def read_items(path: str | Path) -> pa.Table:
    """The items table, checked: unique non-null item_id strings, image bytes, captions."""
    table = read_parquet(path)
    missing = [name for name in ITEM_COLUMNS if name not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {table.column_names}")
    for name in ITEM_COLUMNS:
        _refuse(path, name, _nulls(table.column(name)), "missing value", "fill or drop the row")
    ids = table.column("item_id").cast(pa.string()).to_numpy(zero_copy_only=False)
    _, first_seen, counts = np.unique(ids, return_index=True, return_counts=True)
    duplicated = np.zeros(len(ids), dtype=bool)
    duplicated[np.setdiff1d(np.arange(len(ids)), first_seen)] = True
    if counts.size and counts.max() > 1:
        _refuse(path, "item_id", duplicated, "duplicate item_id", "item ids must be unique")
    return table


def embed_items(path: str | Path, model, batch_items: int = 64, progress: bool = False) -> pa.Table:
    """(item_id, x) with x = [image features; caption features], FixedSizeList<float32>.

    Batches are always ``batch_items`` wide (the last one padded by repeating its first item),
    so an item's features do not depend on how many items come with it.
    """
    from tqdm import tqdm

    from rtpref.embedding import decode_image

    table = read_items(path)
    images = table.column("image")
    captions = table.column("caption").to_pylist()
    rows = table.num_rows
    parts = []
    starts = range(0, rows, batch_items)
    for start in tqdm(starts, desc="embedding items", unit="batch", disable=not progress):
        stop = min(start + batch_items, rows)
        picked = list(range(start, stop)) + [start] * (batch_items - (stop - start))
        decoded = [decode_image(images[row].as_py(), path, row, None, "image") for row in picked]
        pixels = model.preprocess(decoded)
        tokens = model.tokenize([captions[row] for row in picked])
        image, text = model.encode(pixels, tokens)
        parts.append(np.concatenate([image.numpy(), text.numpy()], axis=1)[: stop - start])
    features = np.concatenate(parts) if parts else np.empty((0, 2 * model.embed_dim), np.float32)
    return pa.table(
        {"item_id": table.column("item_id").cast(pa.string()), "x": features_to_arrow(features)}
    )


TEXT_ITEM_COLUMNS = ("item_id", "prompt", "text")


def embed_text_items(path: str | Path, encoder, batch_texts: int = 128) -> pa.Table:
    """(item_id, x) with x = [e(prompt); e(text)] for an items table of texts (item_id,
    prompt, text), as the text source embeds (prompt, response) pairs."""
    table = read_parquet(path, TEXT_ITEM_COLUMNS)
    for name in TEXT_ITEM_COLUMNS:
        _refuse(path, name, _nulls(table.column(name)), "missing value", "fill or drop the row")
    features = encoder.item_features(
        table.column("prompt").to_pylist(), table.column("text").to_pylist(), batch_texts
    )
    return pa.table(
        {"item_id": table.column("item_id").cast(pa.string()), "x": features_to_arrow(features)}
    )
