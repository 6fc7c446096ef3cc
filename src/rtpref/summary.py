"""Collect per-run metrics into one table."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import polars as pl

KEY_COLUMNS = ("algorithm", "n", "seed")
METRIC_COLUMNS = ("accuracy", "accuracy_true", "mse", "policy_value", "regret")


def collect(metric_files: Iterable[str | Path]) -> pl.DataFrame:
    records = []
    for path in metric_files:
        try:
            records.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: unreadable metrics file ({error})") from error
    if not records:
        raise ValueError("no metrics files to summarise")
    frame = pl.DataFrame(records, infer_schema_length=None)
    missing = [name for name in (*KEY_COLUMNS, *METRIC_COLUMNS) if name not in frame.columns]
    if missing:
        raise ValueError(f"metrics records lack column(s) {missing}")
    return frame.sort(list(KEY_COLUMNS))


def aggregate(summary: pl.DataFrame, metric: str) -> pl.DataFrame:
    """Mean and seed count per (algorithm, n)."""
    return (
        summary.group_by(["algorithm", "n"])
        .agg(
            pl.col(metric).mean().alias("mean"),
            pl.col(metric).std().alias("std"),
            pl.len().alias("seeds"),
        )
        .sort(["algorithm", "n"])
    )
