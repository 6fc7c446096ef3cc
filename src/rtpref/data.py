"""The data layer every stage shares: the input-error type, pairs in memory, and checked reads.

- :class:`DataError` is raised for input that cannot be used; its message names the file (or
  dataset), the column and, where known, the row, so that the user knows what to fix.
- :class:`Pairs` holds pairs in memory: two feature matrices and the per-pair labels.
- :func:`open_parquet` opens a Parquet file and checks that it has the columns a stage needs;
  :func:`require_columns` is the same check for a table already in memory;
  :func:`check_finite` rejects NaN/inf values naming the first bad row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

# Recorded data has no true rewards: these columns are then entirely NaN ("unknown").
REWARD_COLUMNS = ("reward_1", "reward_2")


class DataError(ValueError):
    """Input data that cannot be used; the message names the file and, where known, the row."""


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Pairs held in memory: features (rows, D) float32 and labels, one entry per row."""

    pair_index: NDArray[np.int64]
    x1: NDArray[np.float32]
    x2: NDArray[np.float32]
    reward_1: NDArray[np.float64]
    reward_2: NDArray[np.float64]
    choice: NDArray[np.int8]
    response_time: NDArray[np.float64]
    # Who labelled each pair (users on); None when the data has no users.
    user_id: NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return int(self.pair_index.shape[0])

    @property
    def reward_diff(self) -> NDArray[np.float64]:
        return self.reward_1 - self.reward_2


def require_columns(
    source: str | Path, names: Sequence[str], required: Iterable[str], what: str = ""
) -> None:
    """Raise DataError naming ``source`` and the columns of ``required`` absent from ``names``.

    ``what`` qualifies the columns in the message (e.g. "Pick-a-Pic ").
    """
    missing = [name for name in required if name not in names]
    if missing:
        raise DataError(f"{source}: missing {what}column(s) {missing}; has {list(names)}")


def open_parquet(path: str | Path, required: Iterable[str] = ()) -> pq.ParquetFile:
    """Open a Parquet file (footer only) that must have the ``required`` columns."""
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path}: not a readable Parquet file ({error})") from error
    require_columns(path, parquet.schema_arrow.names, required)
    return parquet


def read_parquet(path: str | Path, required: Iterable[str] = ()) -> pa.Table:
    """A whole Parquet file as a table, checked like :func:`open_parquet`."""
    parquet = open_parquet(path, required)
    try:
        return parquet.read()
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: unreadable ({error})") from error


def first_bad_row(bad: NDArray[np.bool_], rows: NDArray | None) -> tuple[int, int]:
    """(position of the first True in ``bad``, its row number in the source): ``rows`` are
    the row numbers when they are not 0, 1, 2, ..."""
    position = int(np.flatnonzero(bad)[0])
    return position, position if rows is None else int(rows[position])


def check_finite(
    name: str,
    values: NDArray,
    pair_index: NDArray,
    source: str,
    rows: NDArray | None = None,
    rewards_may_be_unknown: bool = False,
) -> None:
    """Raise DataError naming the file and first pair_index with a NaN/inf in ``values``.

    With ``rewards_may_be_unknown`` a reward column that is NaN throughout passes: recorded
    data has no true rewards.

    ``rows`` are the row numbers of ``values`` in ``source`` when they are not 0, 1, 2, ...
    """
    # Fast path: min and max are NaN or infinite if any value is, without a boolean temporary.
    if values.size == 0 or (np.isfinite(values.min()) and np.isfinite(values.max())):
        return
    if rewards_may_be_unknown and name in REWARD_COLUMNS and np.isnan(values).all():
        return  # unknown rewards (recorded data), not a damaged value
    finite = np.isfinite(values)
    if finite.ndim > 1:
        finite = finite.all(axis=tuple(range(1, finite.ndim)))
    if not finite.all():
        position, row = first_bad_row(~finite, rows)
        raise DataError(
            f"{source}: column {name!r} has {int((~finite).sum())} row(s) with NaN/inf, "
            f"first at row {row} (pair_index {int(pair_index[position])})"
        )
