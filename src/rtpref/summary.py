"""The summary stage: every run's ``metrics.json`` collected into one table, one row per run."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from rtpref.data import require_columns
from rtpref.names import METRICS

KEY_COLUMNS = ("algorithm", "n", "seed")


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
    require_columns("metrics records", frame.columns, (*KEY_COLUMNS, *METRICS))
    return frame.sort(list(KEY_COLUMNS))
