"""Chunk directories, the training data format: writing, indexing and fast loading of pairs.

A chunk directory holds ``chunk-00000.parquet``, ``chunk-00001.parquet``, ... of at most
``rows_per_chunk`` rows each, in ascending ``pair_index`` order. Every file has the schema
``chunk_schema(D)``: pair_index, the features x1 and x2 as FixedSizeList<float32>[D] (read
zero-copy into (rows, D) arrays), and the labels, with the width D the same for the directory.
:class:`ChunkWriter` writes them, :func:`index_chunks` reads their footers and
:func:`load_pairs` reads all or some rows into :class:`rtpref.data.Pairs`.

The writer finishes a directory with ``manifest.json`` (:mod:`rtpref.manifest`): every chunk
file's name, row count, size in bytes and the SHA-256 of its Parquet footer. A directory
without it is incomplete; :func:`index_chunks` checks it before any row is read, so that a
deleted, truncated, replaced or extra chunk file stops training instead of silently changing
the rows sampled. Size and footer are cheap to check (the footer holds every page's offset and
size, the row counts and the pair_index statistics), so the check never re-reads the features.
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

from rtpref.data import DataError, Pairs, check_finite, open_parquet, require_columns
from rtpref.labels import check_labels
from rtpref.manifest import MANIFEST_NAME, verify_manifest, write_manifest

log = logging.getLogger(__name__)

FEATURE_COLUMNS = ("x1", "x2")
LABEL_COLUMNS = ("pair_index", "reward_1", "reward_2", "choice", "response_time")
CHUNK_COLUMNS = ("pair_index", "x1", "x2", "reward_1", "reward_2", "choice", "response_time")
# Optional column: who labelled the pair (simulated or real users); absent without users.
USER_COLUMN = "user_id"
FINITE_COLUMNS = ("x1", "x2", "reward_1", "reward_2", "response_time")
ROW_GROUP_ROWS = 8192
FEATURE_PAGE_BYTES = 64 << 20
# Parquet files end with the footer, its 4-byte little-endian length and the magic b"PAR1".


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


def _check_schema(path: Path, schema: pa.Schema, dim: int | None) -> int:
    require_columns(path, schema.names, CHUNK_COLUMNS)
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
    """Row counts and feature width of a chunk directory checked against its manifest.

    Reads the manifest and the Parquet footers only.
    """
    files = verify_manifest(directory)
    if not files:
        raise DataError(f"{directory}: {MANIFEST_NAME} lists no chunk files")
    footers = []
    dim = None
    users = set()
    for path in files:
        parquet = open_parquet(path)
        dim = _check_schema(path, parquet.schema_arrow, dim)
        users.add(USER_COLUMN in parquet.schema_arrow.names)
        if len(users) > 1:
            raise DataError(
                f"{path}: some chunk files of {directory} have a {USER_COLUMN} column and some "
                "do not; rebuild the chunks"
            )
        footers.append(parquet.metadata)
    return ChunkIndex(files, footers, int(dim), users.pop())


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
                    rewards_may_be_unknown=True,
                )
            check_labels(
                out["choice"][target],
                out["response_time"][target],
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
        """Write the last chunk, then the manifest that marks the directory as complete."""
        if self.pending_rows:
            self._flush(self.pending_rows)
        if self.files_written == 0:
            raise DataError(f"{self.directory}: no rows to write")
        write_manifest(self.directory)

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
