"""Run an image-text model over a raw shard: decode in threads, encode in fixed batches.

Batches are aligned to pair_index: batch ``b`` holds the pairs with
``pair_index // batch_pairs == b``, each at slot ``pair_index % batch_pairs``, and a batch is
always ``batch_pairs`` slots wide (slots of pairs outside this shard repeat a pair of the
batch). Every pair is therefore computed at the same slot of a same-shaped batch whatever the
shard count, so features and rewards are bitwise identical for any sharding: BLAS kernels pick
their blocking from the shapes, and rows of a batch never mix in a CLIP forward pass.

Decoding and preprocessing of batch k+1.. runs in a thread pool while the model encodes batch k
(PIL and torch release the GIL), so throughput approaches min(decode rate, model rate).
:func:`run_model_job` is what a score or embed job runs: load the model on a leased device and
encode one shard.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import io
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from numpy.typing import NDArray
from PIL import Image

from rtpref.chunks import features_to_arrow
from rtpref.data import DataError, check_finite, open_parquet
from rtpref.devices import gpu_lease
from rtpref.models import ImageTextModel, load_model

log = logging.getLogger(__name__)

IMAGE_COLUMNS = ("jpg_0", "jpg_1")
INPUT_COLUMNS = ("pair_index", "caption", *IMAGE_COLUMNS)
PROGRESS_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class BatchSettings:
    batch_pairs: int = 128
    decode_workers: int = 2
    prefetch: int = 2
    progress_seconds: float = PROGRESS_SECONDS

    @classmethod
    def from_config(cls, embedding: dict[str, Any], batch_pairs: int) -> BatchSettings:
        """The config's ``embedding`` block with ``batch_pairs`` from the rule's params.

        Only batch_pairs changes results (bitwise) and so is a rerun-triggering param; the
        other keys change throughput only and come straight from the config.
        """
        return cls(**{**embedding, "batch_pairs": batch_pairs})


@dataclasses.dataclass
class RawBatch:
    """Encoded inputs of one pair_index-aligned batch; ``slots`` are the pairs' positions."""

    pair_index: NDArray[np.int64]
    slots: NDArray[np.int64]
    pixels: torch.Tensor  # (2 * batch_pairs, 3, H, W): first images, then second images
    tokens: dict[str, torch.Tensor]  # batch_pairs captions


@dataclasses.dataclass
class EncodedPairs:
    pair_index: NDArray[np.int64]
    image_0: NDArray[np.float32]
    image_1: NDArray[np.float32]
    text: NDArray[np.float32]


def aligned_batches(path: str | Path, batch_pairs: int) -> Iterator[tuple[int, pa.Table]]:
    """(first row, table) per pair_index-aligned batch of a raw shard, streamed.

    Only a batch or two of image bytes is in memory at a time; a raw shard of the reference
    experiment holds about a hundred GB of JPEGs. Rows are checked as they stream by: ascending
    pair_index, no null caption or image.
    """
    path = Path(path)
    parquet = open_parquet(path, INPUT_COLUMNS)
    buffered: list[pa.Table] = []
    buffered_rows = 0
    first_row = 0
    previous = -1
    try:
        batches = parquet.iter_batches(batch_size=batch_pairs, columns=list(INPUT_COLUMNS))
        for record_batch in batches:
            table = pa.Table.from_batches([record_batch])
            pair_index = table.column("pair_index").to_numpy()
            rows = np.arange(first_row + buffered_rows, first_row + buffered_rows + len(pair_index))
            steps = np.diff(np.concatenate([[previous], pair_index]))
            if np.any(steps <= 0):
                bad = int(np.flatnonzero(steps <= 0)[0])
                raise DataError(
                    f"{path}: pair_index not strictly ascending at row {int(rows[bad])} "
                    f"(pair_index {int(pair_index[bad])})"
                )
            for name in ("caption", *IMAGE_COLUMNS):
                column = table.column(name)
                if column.null_count:
                    bad = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
                    raise DataError(
                        f"{path}: column {name!r} is null at row {int(rows[bad])} "
                        f"(pair_index {int(pair_index[bad])})"
                    )
            if pair_index.size:
                previous = int(pair_index[-1])
            buffered.append(table)
            buffered_rows += table.num_rows
            # Emit every batch that is complete, i.e. followed by a row of a later batch.
            combined = pa.concat_tables(buffered)
            batch_of = combined.column("pair_index").to_numpy() // batch_pairs
            cuts = np.flatnonzero(np.diff(batch_of)) + 1
            start = 0
            for cut in cuts.tolist():
                yield first_row, combined.slice(start, cut - start)
                first_row += cut - start
                start = cut
            buffered = [combined.slice(start)]
            buffered_rows = combined.num_rows - start
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: unreadable ({error})") from error
    if buffered_rows:
        yield first_row, pa.concat_tables(buffered)


def decode_image(
    data: bytes, path: Path, row: int, pair_index: int | None, column: str
) -> Image.Image:
    """Image bytes -> RGB PIL image; corrupt bytes raise DataError naming file, row and column."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        pair = "" if pair_index is None else f" (pair_index {pair_index})"
        raise DataError(
            f"{path}: row {row}{pair} column {column!r}: "
            f"undecodable image ({type(error).__name__}: {error})"
        ) from error


def prepare_batch(
    first_row: int, table: pa.Table, model: ImageTextModel, batch_pairs: int, path: Path
) -> RawBatch:
    """Decode and preprocess one aligned batch (shard rows from ``first_row``) to full width."""
    pair_index = table.column("pair_index").to_numpy()
    rows = table.num_rows
    slots = pair_index % batch_pairs
    # Unused slots repeat the first pair of the batch: same shapes, real-looking inputs.
    source = np.zeros(batch_pairs, dtype=np.int64)
    source[slots] = np.arange(rows)
    pixels = []
    for column in IMAGE_COLUMNS:
        decoded = [
            decode_image(data, path, first_row + offset, int(pair_index[offset]), column)
            for offset, data in enumerate(table.column(column).to_pylist())
        ]
        pixels.append(model.preprocess(decoded)[torch.from_numpy(source)])
    captions = table.column("caption").to_pylist()
    tokens = model.tokenize([captions[i] for i in source])
    batch_pixels = torch.cat(pixels)
    if model.device.startswith("cuda"):
        batch_pixels = batch_pixels.pin_memory()  # lets the host-to-GPU copy overlap compute
    return RawBatch(pair_index=pair_index, slots=slots, pixels=batch_pixels, tokens=tokens)


def encode_shard(
    raw_path: str | Path, model: ImageTextModel, settings: BatchSettings | None = None
) -> EncodedPairs:
    """Normalised image and text features of every pair of a raw shard, in pair order."""
    settings = settings or BatchSettings()
    raw_path = Path(raw_path)
    rows = open_parquet(raw_path, INPUT_COLUMNS).metadata.num_rows
    workers = max(1, settings.decode_workers)
    outputs: dict[str, list[torch.Tensor]] = {"image_0": [], "image_1": [], "text": []}
    pair_parts: list[NDArray[np.int64]] = []
    started = last_report = time.perf_counter()
    done = 0
    # On CPU the decode threads and the model share the job's cores: give the model what the
    # decoders leave, else the oversubscribed cores run slower than decoding then encoding.
    job_threads = torch.get_num_threads()
    on_gpu = model.device.startswith("cuda")
    model_threads = job_threads if on_gpu else max(1, job_threads - workers)
    log.info(
        "%s: %d pairs, batches of %d pairs, model %s on %s, %d decode worker(s), %d CPU "
        "thread(s) for the model",
        raw_path,
        rows,
        settings.batch_pairs,
        model.name,
        model.device,
        workers,
        model_threads,
    )
    with (
        contextlib.ExitStack() as restore,
        concurrent.futures.ThreadPoolExecutor(workers) as pool,
    ):
        torch.set_num_threads(model_threads)
        restore.callback(torch.set_num_threads, job_threads)
        pending: collections.deque[concurrent.futures.Future[RawBatch]] = collections.deque()
        batches = aligned_batches(raw_path, settings.batch_pairs)

        def submit_next() -> None:
            item = next(batches, None)
            if item is not None:
                pending.append(
                    pool.submit(prepare_batch, *item, model, settings.batch_pairs, raw_path)
                )

        for _ in range(workers + settings.prefetch):
            submit_next()
        while pending:
            batch = pending.popleft().result()
            submit_next()
            image, text = model.encode(batch.pixels, batch.tokens)
            slots = torch.from_numpy(batch.slots)
            width = settings.batch_pairs
            outputs["image_0"].append(image[:width][slots])
            outputs["image_1"].append(image[width:][slots])
            outputs["text"].append(text[slots])
            pair_parts.append(batch.pair_index)
            done += batch.slots.size
            now = time.perf_counter()
            if now - last_report >= settings.progress_seconds or not pending:
                log.info(
                    "%s: %d/%d pairs (%.1f%%), %.1f pairs/s",
                    raw_path.name,
                    done,
                    rows,
                    100.0 * done / max(rows, 1),
                    done / max(now - started, 1e-9),
                )
                last_report = now
    pair_index = np.concatenate(pair_parts) if pair_parts else np.empty(0, np.int64)
    # An empty shard (possible when a source range holds only dropped rows) keeps the width.
    empty = np.empty((0, model.embed_dim), np.float32)
    result = {name: torch.cat(parts).numpy() if parts else empty for name, parts in outputs.items()}
    for name, values in result.items():
        check_finite(f"{name} features", values, pair_index, str(raw_path))
    return EncodedPairs(pair_index=pair_index, **result)


def features_table(encoded: EncodedPairs) -> pa.Table:
    """x = [image; text] per item, as FixedSizeList<float32>[2D] columns x1, x2."""
    x1 = np.concatenate([encoded.image_0, encoded.text], axis=1)
    x2 = np.concatenate([encoded.image_1, encoded.text], axis=1)
    return pa.table(
        {
            "pair_index": pa.array(encoded.pair_index, pa.int64()),
            "x1": features_to_arrow(x1),
            "x2": features_to_arrow(x2),
        }
    )


def run_model_job(
    job_input: Mapping[str, Any],
    model_spec: Mapping[str, Any],
    settings: BatchSettings,
    encode: Callable[[str | Path, ImageTextModel, BatchSettings], Any] = encode_shard,
) -> Any:
    """``encode(raw shard, model, settings)`` for a score or embed job, on a leased device.

    ``job_input`` is the rule's input: the raw shard and, for the demo model, its files
    ``model_config`` and ``model_weights``; ``model_spec`` is what :func:`load_model` takes.
    """
    files = {key: job_input.get(key) for key in ("model_config", "model_weights")}
    with gpu_lease() as device:
        model = load_model(model_spec, **files).to(device)
        return encode(job_input["raw"], model, settings)
