"""The summary stage: every run's ``metrics.json`` collected into one table, one row per run."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from rtpref.data import DataError
from rtpref.names import METRICS, USER_METRICS

KEY_COLUMNS = ("algorithm", "n", "seed")
# Where the workflow writes a run's record: .../runs/{algorithm}/n{size}/seed{seed}/metrics.json
RUN_PATH = re.compile(r"(?:^|/)runs/(?P<algorithm>[^/]+)/n(?P<n>\d+)/seed(?P<seed>\d+)/[^/]+$")
_REBUILD = "delete the file and run snakemake again to rebuild it"
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




def check_record(record: Any, path: str | Path) -> tuple[str, int, int]:
    """A run's metrics record, checked: keys present, (algorithm, n, seed) those of its path,
    metrics finite numbers. Returns (algorithm, n, seed)."""
    if not isinstance(record, dict):
        raise DataError(f"{path}: not a metrics record (a JSON object); {_REBUILD}")
    missing = [name for name in (*KEY_COLUMNS, *METRICS) if name not in record]
    if missing:
        raise DataError(f"{path}: metrics record lacks {missing}; {_REBUILD}")
    key = (record["algorithm"], record["n"], record["seed"])
    where = RUN_PATH.search(Path(path).as_posix())
    if where is not None:
        expected = (where["algorithm"], int(where["n"]), int(where["seed"]))
        if key != expected:
            raise DataError(
                f"{path}: record is for algorithm={key[0]!r}, n={key[1]!r}, seed={key[2]!r} but "
                f"its path is that of algorithm={expected[0]!r}, n={expected[1]}, "
                f"seed={expected[2]} (a file copied or moved by hand?); {_REBUILD}"
            )
    # Recorded data has no true rewards: then every metric that needs them is null (and only
    # then; one null among numbers is a damaged record).
    reward_metrics = [name for name in METRICS if name != "accuracy"]
    rewards_unknown = all(record[name] is None for name in reward_metrics)
    for name in METRICS:
        value = record[name]
        if value is None and rewards_unknown and name in reward_metrics:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise DataError(
                f"{path}: metric {name!r} is {value!r}, not a finite number; {_REBUILD}"
            )
    # Per-user metrics are optional (runs with users only); null where a group has no pairs.
    for name in USER_METRICS:
        value = record.get(name)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise DataError(
                f"{path}: metric {name!r} is {value!r}, not a finite number or null; {_REBUILD}"
            )
    return key


def collect(metric_files: Iterable[str | Path]) -> pl.DataFrame:
    """One row per run; refuses unreadable, mislabelled, duplicated or non-finite records."""
    records = []
    seen: dict[tuple[str, int, int], str | Path] = {}
    for path in metric_files:
        try:
            record = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: unreadable metrics file ({error})") from error
        key = check_record(record, path)
        if key in seen:
            raise DataError(
                f"{path}: run algorithm={key[0]!r}, n={key[1]}, seed={key[2]} is also in "
                f"{seen[key]}; each run must be summarised once"
            )
        seen[key] = path
        records.append(_flat(record))
    if not records:
        raise ValueError("no metrics files to summarise")
    # check_record has made sure every record holds the key and metric columns.
    return pl.DataFrame(records, infer_schema_length=None).sort(list(KEY_COLUMNS))


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
