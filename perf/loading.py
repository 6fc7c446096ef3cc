"""Stage "loading": reading 100k x 2 x 2048 float32 pairs from chunk files, ours
(`rtpref.chunks.load_pairs`) vs pandas + np.stack, time and peak extra RSS, each measured in
fresh interpreters (`perf.probe_loading`). Also holds `write_chunks`, the synthetic chunk
directory the memory stage trains on."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from perf.common import SCRATCH_PARENT, row, run_probe


def write_chunks(directory: Path, rows: int, dim: int, rows_per_chunk: int = 50_000) -> None:
    """A chunk directory of ``rows`` random pairs of ``dim`` features, as the workflow writes."""
    import pyarrow as pa

    from rtpref.chunks import ChunkWriter, features_to_arrow

    directory.mkdir(parents=True, exist_ok=True)
    writer = ChunkWriter(directory, dim, rows_per_chunk)
    rng = np.random.default_rng(0)
    block = 10_000
    for start in range(0, rows, block):
        count = min(block, rows - start)
        writer.append(
            pa.table(
                {
                    "pair_index": np.arange(start, start + count),
                    "x1": features_to_arrow(rng.standard_normal((count, dim), dtype=np.float32)),
                    "x2": features_to_arrow(rng.standard_normal((count, dim), dtype=np.float32)),
                    "reward_1": rng.standard_normal(count),
                    "reward_2": rng.standard_normal(count),
                    "choice": rng.choice(np.array([-1, 1], dtype=np.int8), count),
                    "response_time": rng.random(count) + 0.1,
                }
            )
        )
    writer.close()


def bench_loading(rows: int = 100_000, dim: int = 2048) -> list[dict]:
    with tempfile.TemporaryDirectory(dir=SCRATCH_PARENT) as scratch:
        directory = Path(scratch) / "chunks"
        write_chunks(directory, rows, dim)
        array_mb = rows * 2 * dim * 4 / 2**20
        # Alternate fresh processes and keep each one's best: on a VM the first touch of
        # memory is costly and a later process reuses what an earlier one touched.
        ours_runs, reference_runs = [], []
        for _ in range(2):
            ours_runs.append(run_probe("probe_loading", "ours", str(directory)))
            reference_runs.append(run_probe("probe_loading", "pandas", str(directory)))
        ours = min(ours_runs, key=lambda result: result["seconds"])
        reference = min(reference_runs, key=lambda result: result["seconds"])
    speedup = reference["seconds"] / ours["seconds"]
    memory_ratio = ours["extra_mb"] / array_mb
    return [
        row(f"loading: {rows:,} x 2 x {dim} chunks, ours", ours["seconds"], "s"),
        row("loading: pandas + np.stack (reference)", reference["seconds"], "s"),
        row("loading: speed-up vs pandas + np.stack", speedup, "x", speedup, ">= 2", speedup >= 2),
        row(
            "loading: peak extra RSS / array bytes",
            ours["extra_mb"],
            "MB",
            memory_ratio,
            "<= 1.3",
            memory_ratio <= 1.3,
        ),
        row(
            "loading: pandas peak extra RSS / array bytes",
            reference["extra_mb"],
            "MB",
            reference["extra_mb"] / array_mb,
        ),
    ]
