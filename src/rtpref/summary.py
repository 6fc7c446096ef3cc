"""The summary stage: every run's ``metrics.json`` collected into one table, one row per run."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from rtpref.data import DataError, require_columns
from rtpref.names import METRICS

KEY_COLUMNS = ("algorithm", "n", "seed")
# Where the workflow writes a run's record: .../runs/{algorithm}/n{size}/seed{seed}/metrics.json
RUN_PATH = re.compile(r"(?:^|/)runs/(?P<algorithm>[^/]+)/n(?P<n>\d+)/seed(?P<seed>\d+)/[^/]+$")
_REBUILD = "delete the file and run snakemake again to rebuild it"


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
    for name in METRICS:
        value = record[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise DataError(
                f"{path}: metric {name!r} is {value!r}, not a finite number; {_REBUILD}"
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
        records.append(record)
    if not records:
        raise ValueError("no metrics files to summarise")
    frame = pl.DataFrame(records, infer_schema_length=None)
    require_columns("metrics records", frame.columns, (*KEY_COLUMNS, *METRICS))
    return frame.sort(list(KEY_COLUMNS))
