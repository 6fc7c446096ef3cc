"""Parquet storage of pairs: features as FixedSizeList<float32>[D], read zero-copy.

A chunk directory holds ``chunk-00000.parquet``, ``chunk-00001.parquet``, ... of at most
``rows_per_chunk`` rows each, in ascending ``pair_index`` order. Every file has the columns of
``CHUNK_SCHEMA`` with the feature width fixed per directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

log = logging.getLogger(__name__)

FEATURE_COLUMNS = ("x1", "x2")
LABEL_COLUMNS = ("pair_index", "reward_1", "reward_2", "choice", "response_time")
CHUNK_COLUMNS = ("pair_index", "x1", "x2", "reward_1", "reward_2", "choice", "response_time")
# Optional column: who labelled the pair (simulated or real users); absent without users.
USER_COLUMN = "user_id"
FINITE_COLUMNS = ("x1", "x2", "reward_1", "reward_2", "response_time")
ROW_GROUP_ROWS = 8192
FEATURE_PAGE_BYTES = 64 << 20
_CHUNK_GLOB = "chunk-*.parquet"


class DataError(ValueError):
    """Input data that cannot be used; the message names the file and, where known, the row."""


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Pairs held in memory: features (rows, D) float32 and labels, one entry per row."""

    pair_index: NDArray[np.int64]
    x1: NDArray[np.float32]
    x2: NDArray[np.float32]
    reward_1: NDArray[np.float64]
    reward_2: NDArray[np.float64]
    choice: NDArray[np.int8]
    response_time: NDArray[np.float64]
    # Who labelled each pair (users on); None when the data has no users.
    user_id: NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return int(self.pair_index.shape[0])

    @property
    def reward_diff(self) -> NDArray[np.float64]:
        return self.reward_1 - self.reward_2


def feature_type(dim: int) -> pa.DataType:
    # Non-nullable items: Parquet then stores no per-value null levels, which makes reading
    # the features (the bulk of every chunk) markedly faster.
    return pa.list_(pa.field("item", pa.float32(), nullable=False), dim)


def chunk_schema(dim: int, users: bool = False) -> pa.Schema:
    user_field = [pa.field(USER_COLUMN, pa.int64(), nullable=False)] if users else []
    return pa.schema(
        [
            pa.field("pair_index", pa.int64(), nullable=False),
            pa.field("x1", feature_type(dim), nullable=False),
            pa.field("x2", feature_type(dim), nullable=False),
            pa.field("reward_1", pa.float64(), nullable=False),
            pa.field("reward_2", pa.float64(), nullable=False),
            pa.field("choice", pa.int8(), nullable=False),
            pa.field("response_time", pa.float64(), nullable=False),
            *user_field,
        ]
    )


def features_to_arrow(features: NDArray) -> pa.FixedSizeListArray:
    """(rows, D) array -> FixedSizeList<float32>[D] without a per-row Python loop."""
    matrix = np.ascontiguousarray(features, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"features must be 2-D (rows, dim), got shape {matrix.shape}")
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1])


def features_to_numpy(column: pa.Array | pa.ChunkedArray, source: str = "") -> NDArray[np.float32]:
    """FixedSizeList<float32>[D] -> (rows, D) float32, zero-copy for a single null-free chunk."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if not pa.types.is_fixed_size_list(column.type) or column.type.value_type != pa.float32():
        raise DataError(
            f"{source}: feature column has type {column.type}, expected fixed_size_list<float32>"
        )
    if column.null_count:
        raise DataError(f"{source}: feature column has {column.null_count} null row(s)")
    width = column.type.list_size
    values = column.flatten()
    flat = values.to_numpy(zero_copy_only=values.null_count == 0)
    return flat.reshape(-1, width)


def check_finite(
    name: str,
    values: NDArray,
    pair_index: NDArray,
    source: str,
    rows: NDArray | None = None,
) -> None:
    """Raise DataError naming the file and first pair_index with a NaN/inf in ``values``.

    ``rows`` are the row numbers of ``values`` in ``source`` when they are not 0, 1, 2, ...
    """
    # Fast path: min and max are NaN or infinite if any value is, without a boolean temporary.
    if values.size == 0 or (np.isfinite(values.min()) and np.isfinite(values.max())):
        return
    finite = np.isfinite(values)
    if finite.ndim > 1:
        finite = finite.all(axis=tuple(range(1, finite.ndim)))
    if not finite.all():
        position = int(np.flatnonzero(~finite)[0])
        row = position if rows is None else int(rows[position])
        raise DataError(
            f"{source}: column {name!r} has {int((~finite).sum())} row(s) with NaN/inf, "
            f"first at row {row} (pair_index {int(pair_index[position])})"
        )


def chunk_files(directory: str | Path) -> list[Path]:
    files = sorted(Path(directory).glob(_CHUNK_GLOB))
    if not files:
        raise DataError(f"{directory}: no {_CHUNK_GLOB} files")
    return files


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path}: not a readable Parquet file ({error})") from error


def _check_schema(path: Path, schema: pa.Schema, dim: int | None) -> int:
    missing = [name for name in CHUNK_COLUMNS if name not in schema.names]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {schema.names}")
    widths = set()
    for name in FEATURE_COLUMNS:
        field_type = schema.field(name).type
        if not pa.types.is_fixed_size_list(field_type):
            raise DataError(f"{path}: column {name!r} is {field_type}, expected fixed_size_list")
        widths.add(field_type.list_size)
    if len(widths) != 1 or (dim is not None and widths != {dim}):
        expected = f" (expected {dim})" if dim is not None else ""
        raise DataError(f"{path}: feature width(s) {sorted(widths)}{expected}")
    return widths.pop()


@dataclasses.dataclass(frozen=True)
class ChunkIndex:
    files: list[Path]
    footers: list[pq.FileMetaData]
    dim: int
    has_users: bool = False

    @property
    def rows_per_file(self) -> NDArray[np.int64]:
        return np.asarray([footer.num_rows for footer in self.footers], dtype=np.int64)

    @property
    def num_rows(self) -> int:
        return int(self.rows_per_file.sum())


def index_chunks(directory: str | Path) -> ChunkIndex:
    """Row counts and feature width of a chunk directory, from Parquet footers only."""
    files = chunk_files(directory)
    footers = []
    dim = None
    users = set()
    for path in files:
        parquet = _open(path)
        dim = _check_schema(path, parquet.schema_arrow, dim)
        users.add(USER_COLUMN in parquet.schema_arrow.names)
        if len(users) > 1:
            raise DataError(
                f"{path}: some chunk files of {directory} have a {USER_COLUMN} column and some "
                "do not; rebuild the chunks"
            )
        footers.append(parquet.metadata)
    return ChunkIndex(files, footers, int(dim), users.pop())


def count_rows(directory: str | Path) -> int:
    return index_chunks(directory).num_rows


def load_pairs(directory: str | Path, rows: Iterable[int] | None = None) -> Pairs:
    """Read pairs from a chunk directory: all rows, or the given global row positions.

    Rows are returned in ascending position order. Output arrays are allocated once and filled
    row group by row group, so peak memory is the result plus one row group.
    """
    index = index_chunks(directory)
    total = index.num_rows
    if rows is None:
        wanted = np.arange(total, dtype=np.int64)
    else:
        wanted = np.unique(
            np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows, dtype=np.int64)
        )
        if wanted.size and (wanted[0] < 0 or wanted[-1] >= total):
            raise DataError(f"{directory}: requested row {int(wanted[-1])} but only {total} exist")
    count = wanted.size
    out = {
        "pair_index": np.empty(count, np.int64),
        "x1": np.empty((count, index.dim), np.float32),
        "x2": np.empty((count, index.dim), np.float32),
        "reward_1": np.empty(count, np.float64),
        "reward_2": np.empty(count, np.float64),
        "choice": np.empty(count, np.int8),
        "response_time": np.empty(count, np.float64),
    }
    if index.has_users:
        out[USER_COLUMN] = np.empty(count, np.int64)
    filled = 0
    file_start = 0
    with _page_keeping_pool():
        for path, footer in zip(index.files, index.footers, strict=True):
            file_end = file_start + footer.num_rows
            lo, hi = np.searchsorted(wanted, [file_start, file_end])
            if hi > lo:
                filled = _fill_from_file(path, footer, wanted[lo:hi] - file_start, out, filled)
            file_start = file_end
    return Pairs(**out)


@contextlib.contextmanager
def _page_keeping_pool() -> Iterator[None]:
    """Decode into arrow's jemalloc pool with page return turned off, where it exists.

    The default pools give freed pages back to the OS at once, so every row group's decode
    buffers were faulted in afresh (~10 % of a load); kept pages are reused by the next one.
    """
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow build without jemalloc
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    pa.jemalloc_set_decay_ms(-1)
    try:
        yield
    finally:
        pa.jemalloc_set_decay_ms(0)  # arrow's default: return freed pages at once
        pa.set_memory_pool(previous)


def _read_row_group(
    path: Path, metadata: pq.FileMetaData, group: int, columns: Iterable[str] = CHUNK_COLUMNS
) -> pa.Table:
    """One row group, decoded from a memory map of the file that is closed afterwards.

    Reading through a map skips a copy of every page into a read buffer (~40 % of the decode
    time); a map per row group keeps at most one row group's file pages in the resident set.
    """
    try:
        with pa.memory_map(str(path)) as source:
            parquet = pq.ParquetFile(source, metadata=metadata)
            return parquet.read_row_group(group, columns=list(columns))
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: row group {group} unreadable ({error})") from error


def _fill_from_file(
    path: Path, metadata: pq.FileMetaData, local_rows: NDArray[np.int64], out: dict, filled: int
) -> int:
    group_start = 0
    for group in range(metadata.num_row_groups):
        group_rows = metadata.row_group(group).num_rows
        lo, hi = np.searchsorted(local_rows, [group_start, group_start + group_rows])
        if hi > lo:
            table = _read_row_group(path, metadata, group, out)
            take = local_rows[lo:hi] - group_start
            target = slice(filled, filled + take.size)
            for name in out:
                column = table.column(name)
                if name in FEATURE_COLUMNS:
                    values = features_to_numpy(column, str(path))
                else:
                    values = column.to_numpy()
                out[name][target] = values if take.size == group_rows else values[take]
            del table, column, values  # unmaps the row group before the next one is read
            # Checked per file, so that the error names the chunk file and its row.
            for name in FINITE_COLUMNS:
                check_finite(
                    name,
                    out[name][target],
                    out["pair_index"][target],
                    str(path),
                    group_start + take,
                )
            filled += take.size
        group_start += group_rows
    return filled


class ChunkWriter:
    """Append tables of pairs; write a chunk file every ``rows_per_chunk`` rows."""

    def __init__(self, directory: Path, dim: int, rows_per_chunk: int, users: bool = False) -> None:
        if rows_per_chunk < 1:
            raise ValueError(f"rows_per_chunk must be >= 1, got {rows_per_chunk}")
        self.directory = Path(directory)
        self.schema = chunk_schema(dim, users)
        self.rows_per_chunk = rows_per_chunk
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.files_written = 0
        self.rows_written = 0

    def append(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        self.pending.append(table)
        self.pending_rows += table.num_rows
        while self.pending_rows >= self.rows_per_chunk:
            self._flush(self.rows_per_chunk)

    def close(self) -> None:
        if self.pending_rows:
            self._flush(self.pending_rows)
        if self.files_written == 0:
            raise DataError(f"{self.directory}: no rows to write")

    def _flush(self, rows: int) -> None:
        combined = pa.concat_tables(self.pending)
        head, rest = combined.slice(0, rows), combined.slice(rows)
        path = self.directory / f"chunk-{self.files_written:05d}.parquet"
        pq.write_table(
            head,
            path,
            row_group_size=ROW_GROUP_ROWS,
            compression="none",
            use_dictionary=False,
            # One data page per feature column chunk: fewer page headers and level runs.
            data_page_size=FEATURE_PAGE_BYTES,
            write_statistics=["pair_index"],
        )
        self.files_written += 1
        self.rows_written += rows
        self.pending = [rest] if rest.num_rows else []
        self.pending_rows = rest.num_rows


def iter_parquet_batches(path: str | Path, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """Record batches of ``columns`` from one Parquet file, with errors that name the file."""
    parquet = _open(Path(path))
    missing = [name for name in columns if name not in parquet.schema_arrow.names]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {parquet.schema_arrow.names}")
    try:
        yield from parquet.iter_batches(batch_size=ROW_GROUP_ROWS, columns=columns)
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: unreadable ({error})") from error


def _read_labels(path: Path) -> pa.Table:
    parquet = _open(path)
    missing = [name for name in LABEL_COLUMNS if name not in parquet.schema_arrow.names]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {parquet.schema_arrow.names}")
    users = [USER_COLUMN] if USER_COLUMN in parquet.schema_arrow.names else []
    labels = parquet.read(columns=[*LABEL_COLUMNS, *users]).sort_by("pair_index")
    pair_index = labels.column("pair_index").to_numpy()
    duplicated = np.flatnonzero(np.diff(pair_index) == 0)
    if duplicated.size:
        raise DataError(
            f"{path}: duplicate pair_index {int(pair_index[duplicated[0]])} "
            f"({duplicated.size} duplicate(s))"
        )
    for name in ("reward_1", "reward_2", "response_time"):
        check_finite(name, labels.column(name).to_numpy(), pair_index, str(path))
    if users and labels.column(USER_COLUMN).null_count:
        row = int(np.flatnonzero(labels.column(USER_COLUMN).is_null().to_numpy())[0])
        raise DataError(
            f"{path}: column {USER_COLUMN!r} is null in row {row} (pair_index "
            f"{int(pair_index[row])}); every pair needs its user when users are on"
        )
    return labels


def write_split_chunks(
    labels_path: str | Path,
    feature_paths: list[str | Path],
    train_dir: str | Path,
    test_dir: str | Path,
    test_size: int,
    split_seed: int,
    rows_per_chunk: int,
) -> dict[str, int]:
    """Join labels with features by pair_index and write train/test chunk directories.

    Feature files must together hold each labelled pair exactly once, in ascending pair_index
    order (raw shards are contiguous ranges), so the chunks do not depend on the shard count.
    The test set is ``test_size`` pairs drawn with ``split_seed``; both parts keep pair order.
    """
    from rtpref.io import atomic_path

    labels_path = Path(labels_path)
    labels = _read_labels(labels_path)
    label_index = labels.column("pair_index").to_numpy()
    total = labels.num_rows
    if not 0 < test_size < total:
        raise DataError(
            f"{labels_path}: test_size={test_size} needs more than {test_size} pairs, found {total}"
        )
    is_test = np.zeros(total, dtype=bool)
    is_test[np.random.default_rng(split_seed).permutation(total)[:test_size]] = True
    matched = np.zeros(total, dtype=bool)
    previous = -1
    dim = None
    with (
        atomic_path(train_dir, directory=True) as train_tmp,
        atomic_path(test_dir, directory=True) as test_tmp,
    ):
        writers: dict[bool, ChunkWriter] = {}
        for feature_path in feature_paths:
            for batch in iter_parquet_batches(feature_path, ["pair_index", *FEATURE_COLUMNS]):
                pair_index = batch.column("pair_index").to_numpy()
                if pair_index.size == 0:
                    continue
                if pair_index[0] <= previous or np.any(np.diff(pair_index) <= 0):
                    raise DataError(
                        f"{feature_path}: pair_index not strictly ascending across "
                        f"feature files near pair_index {int(pair_index[0])} "
                        "(duplicate pair or shards out of order)"
                    )
                previous = int(pair_index[-1])
                features = {}
                for name in FEATURE_COLUMNS:
                    features[name] = features_to_numpy(batch.column(name), str(feature_path))
                    check_finite(name, features[name], pair_index, str(feature_path))
                if dim is None:
                    dim = features["x1"].shape[1]
                    users = USER_COLUMN in labels.column_names
                    writers = {
                        False: ChunkWriter(train_tmp, dim, rows_per_chunk, users),
                        True: ChunkWriter(test_tmp, dim, rows_per_chunk, users),
                    }
                positions = np.searchsorted(label_index, pair_index)
                found = (positions < total) & (
                    label_index[np.minimum(positions, total - 1)] == pair_index
                )
                if not found.all():
                    missing = int(pair_index[np.flatnonzero(~found)[0]])
                    raise DataError(
                        f"{feature_path}: pair_index {missing} has features but no "
                        f"labels in {labels_path}"
                    )
                matched[positions] = True
                joined = labels.take(pa.array(positions)).drop_columns(["pair_index"])
                table = pa.table(
                    {
                        "pair_index": pa.array(pair_index),
                        "x1": batch.column("x1"),
                        "x2": batch.column("x2"),
                        **{name: joined.column(name) for name in joined.column_names},
                    }
                )
                for part in (False, True):
                    mask = is_test[positions] == part
                    if mask.any():
                        writers[part].append(table.filter(pa.array(mask)))
        if not matched.all():
            missing = int(label_index[np.flatnonzero(~matched)[0]])
            raise DataError(
                f"{labels_path}: {int((~matched).sum())} labelled pair(s) have no "
                f"features, first pair_index {missing}"
            )
        for writer in writers.values():
            writer.close()
    log.info("chunks: %d train, %d test rows, dim %s", total - test_size, test_size, dim)
    return {"train_rows": total - test_size, "test_rows": test_size, "dim": int(dim or 0)}
