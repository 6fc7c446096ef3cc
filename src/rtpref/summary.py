"""Collect per-run metrics into one table."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

KEY_COLUMNS = ("algorithm", "n", "seed")
METRIC_COLUMNS = ("accuracy", "accuracy_true", "mse", "policy_value", "regret")
NUISANCE_COLUMNS = ("time_rmse", "time_rmse_constant", "stage1_diff_rmse")


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """One summary row: per-stage selection as ``{stage}_epochs`` / ``{stage}_validation_loss``
    (the validation curves stay in metrics.json), and what distinguishes the seeds."""
    row = {key: value for key, value in record.items() if key != "selection"}
    for stage, chosen in record.get("selection", {}).items():
        row[f"{stage}_epochs"] = chosen["epochs_chosen"]
        row[f"{stage}_validation_loss"] = chosen["best_validation_loss"]
    if "all_training_rows" in record:
        # With one shared data set, runs that use all its rows differ only in initialisation.
        only_init = record["all_training_rows"] and not record.get("data_per_seed", False)
        row["seeds_differ_in"] = "initialisation" if only_init else "data and initialisation"
    return row


def collect(metric_files: Iterable[str | Path]) -> pl.DataFrame:
    records = []
    for path in metric_files:
        try:
            records.append(_flat(json.loads(Path(path).read_text())))
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


def interval_table(summary: pl.DataFrame, metric: str = "mse") -> pl.DataFrame:
    """Per (algorithm, n): mean of ``metric`` over seeds, the half-width of its 95 %
    t-interval, and the seed count."""
    from rtpref.plots import mean_interval

    rows = []
    for (algorithm, size), group in summary.group_by(["algorithm", "n"]):
        values = group[metric].drop_nulls().to_numpy()
        if values.size == 0:
            continue
        mean, half = mean_interval(values)
        rows.append(
            {"algorithm": algorithm, "n": size, "mean": mean, "half": half, "seeds": values.size}
        )
    return pl.DataFrame(rows).sort(["algorithm", "n"])


def increases_beyond_interval(table: pl.DataFrame) -> list[str]:
    """Where an algorithm's mean grows with n by more than the intervals allow: the interval
    at the larger n lies wholly above the one at the next smaller n."""
    found = []
    for (algorithm,), group in table.sort("n").group_by(["algorithm"], maintain_order=True):
        points = group.sort("n").iter_rows(named=True)
        previous = next(points)
        for point in points:
            if point["mean"] - point["half"] > previous["mean"] + previous["half"]:
                found.append(f"{algorithm}: n={previous['n']} -> n={point['n']}")
            previous = point
    return found


def markdown_table(table: pl.DataFrame, order: Iterable[str]) -> str:
    """``mean ± half-width`` per algorithm (rows, in ``order``) and n (columns)."""
    sizes = sorted(table["n"].unique().to_list())
    lines = [
        "| algorithm | " + " | ".join(f"n = {size:,}" for size in sizes) + " |",
        "| --- |" + " --- |" * len(sizes),
    ]
    for algorithm in order:
        cells = []
        for size in sizes:
            match = table.filter((pl.col("algorithm") == algorithm) & (pl.col("n") == size))
            cells.append(
                "" if match.is_empty() else f"{match['mean'][0]:.2f} ± {match['half'][0]:.2f}"
            )
        if any(cells):
            lines.append(f"| {algorithm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
