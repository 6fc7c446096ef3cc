"""Stage "memory": peak extra RSS of a training run at n = 100,000 (reference network, one
epoch: the peak does not grow with epochs), measured in a fresh interpreter
(`perf.probe_memory`), vs the bytes of its tensors and model state."""

from __future__ import annotations

import tempfile
from pathlib import Path

from perf.common import SCRATCH_PARENT, row, run_probe
from perf.loading import write_chunks


def bench_memory(rows: int = 100_000, dim: int = 2048, test_rows: int = 10_000) -> list[dict]:
    with tempfile.TemporaryDirectory(dir=SCRATCH_PARENT) as scratch:
        train_dir, test_dir = Path(scratch) / "train", Path(scratch) / "test"
        write_chunks(train_dir, rows, dim)
        write_chunks(test_dir, test_rows, dim)
        probe = run_probe("probe_memory", str(train_dir), str(test_dir), str(rows), str(dim))
    # Features, labels (choice, time as float32) of train and test; weights, gradients and
    # the two Adam moments.
    data_bytes = (rows + test_rows) * (2 * dim * 4 + 2 * 4)
    model_bytes = probe["parameters"] * 4 * 4
    budget_mb = (data_bytes + model_bytes) / 2**20
    ratio = probe["extra_mb"] / budget_mb
    return [
        row(
            "memory: training run n=100k, peak extra RSS",
            probe["extra_mb"],
            "MB",
            ratio,
            "<= 1.5",
            ratio <= 1.5,
        )
    ]
