"""Shapes in Parquet: one FixedSizeList<float32> column per shape, written atomically."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rtpref.chunks import features_to_arrow, features_to_numpy
from rtpref.data import DataError
from rtpref.io import write_parquet


def write_shapes(path: str | os.PathLike[str], columns: dict[str, np.ndarray]) -> None:
    """Write columns; 2-D arrays become FixedSizeList<float32> columns (one shape per row)."""
    arrays = {
        name: features_to_arrow(values) if np.ndim(values) == 2 else pa.array(values)
        for name, values in columns.items()
    }
    write_parquet(path, pa.table(arrays))


def read_table(path: str | os.PathLike[str], columns: list[str]) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path}: not a readable Parquet file ({error})") from error
    missing = [name for name in columns if name not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {table.column_names}")
    return table


def shapes_of(table: pa.Table, column: str, source: str) -> np.ndarray:
    """A FixedSizeList<float32> column as a (rows, dim) float32 array."""
    return features_to_numpy(table.column(column), f"{source}: column {column}")
