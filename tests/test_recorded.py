"""Source recorded: people's own choices and response times, checked before any training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtpref.chunks import features_to_arrow
from rtpref.data import DataError
from rtpref.sources.recorded import read_recorded


def pairs_table(rows: int = 6, width: int = 3, choice=None, response_time=None) -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table(
        {
            "x1": features_to_arrow(rng.standard_normal((rows, width))),
            "x2": features_to_arrow(rng.standard_normal((rows, width))),
            "choice": choice if choice is not None else [1, -1] * (rows // 2),
            "response_time": response_time if response_time is not None else [0.8] * rows,
            "user_id": ["ann", "bob"] * (rows // 2),
        }
    )


def write(tmp_path: Path, table: pa.Table, name: str = "pairs.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def test_good_files_become_labels_and_features(tmp_path: Path) -> None:
    zero_one = pairs_table(choice=[1, 0, 0, 1, 1, 0])
    first = write(tmp_path, zero_one, "a.parquet")
    second = write(tmp_path, pairs_table(), "b.parquet")
    with pytest.raises(DataError, match=r"mixes codings: 0 in .*a.parquet row 1 and -1 in .*b"):
        read_recorded([first, second])
    labels, features = read_recorded([first])
    assert labels.column("choice").to_pylist() == [1, -1, -1, 1, 1, -1]
    assert np.isnan(labels.column("reward_1").to_numpy()).all()
    assert labels.column("pair_index").to_pylist() == list(range(6))
    assert features.column("x1").type.list_size == 3
    assert labels.column("user_id").to_pylist()[:2] == ["ann", "bob"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pairs_table().drop_columns(["response_time"]), r"missing column\(s\) \['response_time'\]"),
        (pairs_table(choice=[1, -1, 2, 1, 1, 1]), r"column 'choice', row 2 .*value 2.0"),
        (
            pairs_table(response_time=[0.5, 0.4, 0.3, -0.2, 0.5, 0.5]),
            r"column 'response_time', row 3 .*-0.2 is not > 0",
        ),
        (
            pairs_table(response_time=[0.5, float("nan"), 0.3, 0.2, 0.5, 0.5]),
            r"column 'response_time', row 1 .*NaN",
        ),
        (
            pairs_table().set_column(1, "x2", features_to_arrow(np.zeros((6, 4), np.float32))),
            r"column 'x1' has width 3 but column 'x2' width 4",
        ),
        (
            pairs_table().set_column(
                1, "x2", pa.array([[0.0, 1.0, 2.0]] * 4 + [[0.0, 1.0]] + [[0.0, 1.0, 2.0]])
            ),
            r"column 'x2', row 4 .*2 features where row 0 has 3",
        ),
    ],
    ids=["missing column", "choice 2", "negative time", "NaN time", "widths", "ragged"],
)
def test_malformed_data_is_refused_naming_file_column_row(
    tmp_path: Path, table: pa.Table, message: str
) -> None:
    path = write(tmp_path, table)
    with pytest.raises(DataError, match=message) as error:
        read_recorded([path])
    assert str(path) in str(error.value)


def test_widths_must_agree_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, pairs_table(width=3), "a.parquet")
    second = write(tmp_path, pairs_table(width=5), "b.parquet")
    with pytest.raises(DataError, match=r"b.parquet: column 'x1' has width 5 .* width 3"):
        read_recorded([first, second])


def test_item_references_need_known_items(tmp_path: Path) -> None:
    items = tmp_path / "items.parquet"
    pq.write_table(
        pa.table({"item_id": ["a", "b"], "x": features_to_arrow(np.eye(2, dtype=np.float32))}),
        items,
    )
    pairs = pa.table(
        {
            "item_1": ["a", "b", "a"],
            "item_2": ["b", "a", "c"],
            "choice": [1, -1, 1],
            "response_time": [0.5, 0.6, 0.7],
        }
    )
    path = write(tmp_path, pairs)
    with pytest.raises(DataError, match=r"column 'item_2', row 2 .*item 'c' is not in"):
        read_recorded([path], items)
    with pytest.raises(DataError, match="no items table is set"):
        read_recorded([path])
    labels, features = read_recorded([write(tmp_path, pairs.slice(0, 2), "ok.parquet")], items)
    assert features.column("x1").to_pylist() == [[1.0, 0.0], [0.0, 1.0]]
