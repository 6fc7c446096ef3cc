"""Pick-a-Pic pairs (yuvalkirstain/pickapic_v1 or _v2), streamed into contiguous raw shards.

The full train splits hold 193 GB (v1) and 322 GB (v2) of JPEGs, so the data is streamed with
``datasets.load_dataset(..., streaming=True)`` and written shard by shard; nothing holds more
than one batch of rows. A local copy (Parquet files in the Pick-a-Pic schema) is read through
the same streaming code with datasets' ``parquet`` builder.

Rows are dropped, and counted in the log, when the two images tie (label_0 == label_1 == 0.5),
when a label, the caption or an image is missing, or when an image does not decode. The kept
rows get ``pair_index`` = their position among kept rows, so pair_index does not depend on the
shard count. Shards are contiguous pair_index ranges: with ``sample_size`` the first
``sample_size`` kept rows split evenly; without it, the split's rows (known from the dataset
metadata) split evenly by source position, so each shard can be written as the stream passes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import io
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from rtpref.data import DataError, require_columns
from rtpref.hub import (
    HubResourceUnavailable,
    hub_unavailable_reason,
)
from rtpref.io import atomic_path
from rtpref.sources.pickapic_inputs import PICKAPIC_COLUMNS, check_local_schema, local_parquet_files
from rtpref.sources.raw import RAW_SCHEMA, DropLog, shard_bounds

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 60.0
# Decoding a thumbnail is enough to prove a JPEG decodes: libjpeg still reads every scan.
CHECK_SIZE = (64, 64)


@dataclasses.dataclass(frozen=True)
class PickapicConfig:
    repo: str = "yuvalkirstain/pickapic_v1"
    revision: str = "main"
    local_path: str | None = None
    sample_size: int | None = None
    batch_rows: int = 64
    check_workers: int = 4
    row_group_rows: int = 128


@dataclasses.dataclass
class Stream:
    """Arrow tables of source rows in order, and the split's row count where known."""

    tables: Iterator[pa.Table]
    total_rows: int | None
    description: str
    # (file, its first source row) of a local copy, so that a drop note can name the file.
    file_starts: list[tuple[str, int]] = dataclasses.field(default_factory=list)

    def locate(self, source_row: int) -> str:
        """Where a source row is: ``<file> row <r>`` for a local copy, else its position."""
        if not self.file_starts:
            return f"{self.description} row {source_row}"
        starts = [start for _, start in self.file_starts]
        file, start = self.file_starts[int(np.searchsorted(starts, source_row, "right")) - 1]
        return f"{file} row {source_row - start}"


@dataclasses.dataclass
class DropCounts(DropLog):
    ties: int = 0
    missing: int = 0
    undecodable: int = 0


def open_stream(config: PickapicConfig, split: str) -> Stream:
    """Stream the split's rows (only the columns the pipeline needs) as Arrow tables."""
    import datasets

    datasets.disable_progress_bars()  # they would go to the terminal, not the rule's log
    if config.local_path:
        files = local_parquet_files(config.local_path, split)
        rows = check_local_schema(files)
        total = sum(rows)
        starts = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(int).tolist()
        file_starts = list(zip(map(str, files), starts, strict=True))
        dataset = datasets.load_dataset(
            "parquet",
            data_files={split: [str(file) for file in files]},
            split=split,
            streaming=True,
        )
        description = f"{len(files)} local Parquet file(s) under {config.local_path}"
    else:
        file_starts = []
        reason = hub_unavailable_reason()
        if reason is not None:
            raise HubResourceUnavailable(
                f"Pick-a-Pic dataset {config.repo}@{config.revision} streams from the Hugging "
                f"Face hub and {reason}. Set pickapic.local_path to a directory of Parquet files "
                f"in the Pick-a-Pic schema (e.g. `hf download {config.repo} --repo-type dataset "
                f"--include 'data/{split}-0000*'` on a machine with network)"
            )
        dataset = datasets.load_dataset(
            config.repo, revision=config.revision, split=split, streaming=True
        )
        if dataset.features is not None:
            source = f"{config.repo}@{config.revision}"
            require_columns(source, list(dataset.features), PICKAPIC_COLUMNS, "Pick-a-Pic ")
        splits = dataset.info.splits or {}
        total = splits[split].num_examples if split in splits else None
        description = f"{config.repo}@{config.revision} split {split}"
    dataset = dataset.select_columns(list(PICKAPIC_COLUMNS)).with_format("arrow")
    return Stream(dataset.iter(batch_size=config.batch_rows), total, description, file_starts)


def undecodable_reason(data: bytes | None) -> str | None:
    """None if ``data`` decodes as an image, else why not."""
    if not data:
        return "empty image bytes"
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", CHECK_SIZE)
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def usable_rows(
    table: pa.Table,
    first_source_row: int,
    pool: concurrent.futures.Executor,
    counts: DropCounts,
    locate: Callable[[int], str] = lambda row: f"source row {row}",
) -> np.ndarray:
    """Boolean mask of the rows to keep; dropped rows are counted with a reason.

    ``locate`` names a source row in the notes (its file and row there, for a local copy).
    """
    rows = table.num_rows
    keep = np.ones(rows, dtype=bool)
    for name in PICKAPIC_COLUMNS:
        null = table.column(name).is_null().to_numpy(zero_copy_only=False)
        for row in np.flatnonzero(null & keep):
            counts.note(f"{locate(first_source_row + int(row))}: {name} is missing")
        counts.missing += int((null & keep).sum())
        keep &= ~null
    label_0 = table.column("label_0").to_numpy(zero_copy_only=False)
    label_1 = table.column("label_1").to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        tie = keep & np.isclose(label_0, 0.5) & np.isclose(label_1, 0.5)
    counts.ties += int(tie.sum())
    keep &= ~tie
    candidates = np.flatnonzero(keep)
    images = {name: table.column(name).to_pylist() for name in ("jpg_0", "jpg_1")}  # bytes per row
    jobs = [(row, name, images[name][row]) for row in candidates for name in images]
    reasons = pool.map(lambda job: undecodable_reason(job[2]), jobs)
    for (row, name, _), reason in zip(jobs, reasons, strict=True):
        if reason is not None and keep[row]:
            keep[row] = False
            counts.undecodable += 1
            counts.note(f"{locate(first_source_row + int(row))}: {name} undecodable ({reason})")
    return keep


class ShardRouter:
    """Which shard a kept row goes to: by kept position (sample_size) or by source position."""

    def __init__(self, shards: int, sample_size: int | None, total_rows: int | None) -> None:
        if sample_size is None and total_rows is None:
            raise DataError(
                "the split's row count is unknown, so shards cannot be planned while streaming; "
                "set pickapic.sample_size"
            )
        self.by_kept = sample_size is not None
        planned = sample_size if sample_size is not None else total_rows
        self.starts = np.asarray([start for start, _ in shard_bounds(int(planned), shards)])

    def shards(self, kept_positions: np.ndarray, source_positions: np.ndarray) -> np.ndarray:
        positions = kept_positions if self.by_kept else source_positions
        return np.searchsorted(self.starts, positions, side="right") - 1


def write_raw_shards(
    stream: Stream,
    paths: Sequence[str | Path],
    sample_size: int | None,
    check_workers: int = 4,
    row_group_rows: int = 128,
    needed_rows: int | None = None,
) -> DropCounts:
    """Filter the stream and write its kept rows as contiguous, ascending raw shards.

    ``needed_rows`` (test_size + the largest size) is checked against the split's row count
    before any row is streamed, where the source knows that count (the hub's metadata).
    """
    too_few = stream.total_rows is not None and sample_size is None and needed_rows is not None
    if too_few and needed_rows > stream.total_rows:
        raise DataError(
            f"{stream.description}: test_size + max(sizes) = {needed_rows} but the split has "
            f"{stream.total_rows} rows (fewer pairs once ties and undecodable images are "
            "dropped); lower sizes or test_size"
        )
    router = ShardRouter(len(paths), sample_size, stream.total_rows)
    counts = DropCounts()
    started = last_report = time.perf_counter()
    log.info(
        "streaming %s (%s rows) into %d shard(s), sample_size %s",
        stream.description,
        stream.total_rows if stream.total_rows is not None else "unknown",
        len(paths),
        sample_size,
    )
    with contextlib.ExitStack() as stack:
        temporaries = [stack.enter_context(atomic_path(path)) for path in paths]
        writers = [
            stack.enter_context(pq.ParquetWriter(temporary, RAW_SCHEMA))
            for temporary in temporaries
        ]
        pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(max(1, check_workers)))
        buffers: list[list[pa.Table]] = [[] for _ in paths]
        for table in stream.tables:
            first_source_row = counts.seen
            counts.seen += table.num_rows
            keep = usable_rows(table, first_source_row, pool, counts, stream.locate)
            kept_rows = np.flatnonzero(keep)
            if sample_size is not None:
                kept_rows = kept_rows[: sample_size - counts.kept]
            pair_index = counts.kept + np.arange(kept_rows.size, dtype=np.int64)
            counts.kept += kept_rows.size
            shard_of = router.shards(pair_index, first_source_row + kept_rows)
            kept = table.take(pa.array(kept_rows)).select(list(PICKAPIC_COLUMNS))
            kept = kept.add_column(0, "pair_index", pa.array(pair_index, pa.int64()))
            kept = kept.cast(RAW_SCHEMA)
            for shard in np.unique(shard_of):
                part = kept.filter(pa.array(shard_of == shard))
                buffers[shard].append(part)
                if sum(piece.num_rows for piece in buffers[shard]) >= row_group_rows:
                    writers[shard].write_table(pa.concat_tables(buffers[shard]))
                    buffers[shard] = []
            if sample_size is not None and counts.kept >= sample_size:
                break
            now = time.perf_counter()
            if now - last_report >= PROGRESS_SECONDS:
                log.info(
                    "read %d rows, kept %d (%.1f rows/s)",
                    counts.seen,
                    counts.kept,
                    counts.seen / (now - started),
                )
                last_report = now
        for shard, pieces in enumerate(buffers):
            if pieces:
                writers[shard].write_table(pa.concat_tables(pieces))
        if counts.kept == 0:
            # Fail here, not after every shard has been scored and embedded on a GPU.
            raise DataError(
                f"{stream.description}: no usable pairs in {counts.seen} rows ({counts.ties} "
                f"ties, {counts.undecodable} undecodable, {counts.missing} with missing fields)"
            )
        if sample_size is not None and counts.kept < sample_size:
            raise DataError(
                f"{stream.description}: the stream ended after {counts.seen} rows with only "
                f"{counts.kept} usable pairs ({counts.ties} ties, {counts.undecodable} "
                f"undecodable, {counts.missing} with missing fields dropped), but "
                f"pickapic.sample_size is {sample_size}; lower sample_size (and sizes) or use a "
                "larger split"
            )
    log.info(
        "read %d rows: kept %d, dropped %d tie(s), %d undecodable image row(s), "
        "%d row(s) with missing fields",
        counts.seen,
        counts.kept,
        counts.ties,
        counts.undecodable,
        counts.missing,
    )
    for example in counts.examples:
        log.info("dropped %s", example)
    return counts


def write_raw(
    config: PickapicConfig,
    split: str,
    paths: Sequence[str | Path],
    needed_rows: int | None = None,
) -> DropCounts:
    """Stream ``split`` of the configured source into the raw shards ``paths``."""
    return write_raw_shards(
        open_stream(config, split),
        paths,
        config.sample_size,
        check_workers=config.check_workers,
        row_group_rows=config.row_group_rows,
        needed_rows=needed_rows,
    )
