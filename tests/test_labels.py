"""Label ranges: choices are -1 or +1, response times positive and within float32, checked
where labels are written (enhance), where they are read into chunks and where training loads
them; each error names the file, the column, the row and the pair."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_chunks import build, make_inputs

from rtpref.chunks import load_pairs
from rtpref.data import DataError
from rtpref.enhance import simulate_labels
from rtpref.labels import check_labels
from rtpref.manifest import chunk_files, write_manifest

# (column, bad value, words of the message)
BAD_VALUES = [
    ("choice", 0, "not -1 or +1"),
    ("choice", 2, "not -1 or +1"),
    ("response_time", 0.0, "not positive numbers"),
    ("response_time", -1.5, "not positive numbers"),
    ("response_time", np.nan, "not positive numbers"),
    ("response_time", 1e39, "largest float32"),
]
IDS = ["choice_0", "choice_2", "time_0", "time_negative", "time_nan", "time_above_float32"]
# NaN is refused on reading by the finiteness check that runs first (test_chunks.py).
READ_CASES = [case for case, name in zip(BAD_VALUES, IDS, strict=True) if name != "time_nan"]
READ_IDS = [name for name in IDS if name != "time_nan"]


def _labels(rows: int = 10) -> dict[str, np.ndarray]:
    return {
        "choice": np.where(np.arange(rows) % 2 == 0, 1, -1).astype(np.int8),
        "response_time": np.linspace(0.2, 3.0, rows),
        "pair_index": np.arange(rows, dtype=np.int64) * 10,
    }


@pytest.mark.parametrize(("column", "value", "words"), BAD_VALUES, ids=IDS)
def test_check_labels_names_source_column_row_and_pair(column: str, value, words: str) -> None:
    labels = _labels()
    labels[column] = labels[column].astype(np.float64)
    labels[column][7] = value
    with pytest.raises(DataError, match=f"^f.parquet: column '{column}' has 1 row") as error:
        check_labels(labels["choice"], labels["response_time"], labels["pair_index"], "f.parquet")
    assert "first at row 7 (pair_index 70" in str(error.value)
    assert words in str(error.value)


def test_row_numbers_of_a_slice_are_those_of_the_file() -> None:
    labels = _labels()
    labels["choice"][3] = 0
    with pytest.raises(DataError, match=r"first at row 103 \(pair_index 30"):
        check_labels(
            labels["choice"],
            labels["response_time"],
            labels["pair_index"],
            "f",
            np.arange(100, 110),
        )


def test_good_labels_pass() -> None:
    labels = _labels()
    check_labels(labels["choice"], labels["response_time"], labels["pair_index"], "f")


def _rewrite_row(path: Path, column: str, row: int, value) -> int:
    """Set ``column[row]`` of a Parquet file (keeping its type); return that row's pair_index."""
    table = pq.read_table(path)
    values = table.column(column).to_numpy().copy()
    values[row] = value
    index = table.column_names.index(column)
    pq.write_table(
        table.set_column(index, column, pa.array(values, table.schema.field(column).type)), path
    )
    return int(table.column("pair_index")[row].as_py())


@pytest.mark.parametrize(("column", "value", "words"), READ_CASES, ids=READ_IDS)
def test_chunks_refuse_bad_labels_naming_the_labels_file(
    tmp_path: Path, column: str, value, words: str
) -> None:
    labels, features = make_inputs(tmp_path, 1)
    pair = _rewrite_row(labels, column, 0, value)
    # The labels file is in descending pair order, so its row 0 is the last row once sorted.
    with pytest.raises(DataError, match=re.escape(f"{labels}: column '{column}'")) as error:
        build(tmp_path, labels, features, "bad")
    assert f"(pair_index {pair}," in str(error.value) and words in str(error.value)
    assert not (tmp_path / "bad-train").exists()


@pytest.mark.parametrize(("column", "value", "words"), READ_CASES, ids=READ_IDS)
def test_training_load_refuses_bad_labels_naming_chunk_file_and_row(
    tmp_path: Path, column: str, value, words: str
) -> None:
    labels, features = make_inputs(tmp_path, 1)
    train, _ = build(tmp_path, labels, features, "good")
    chunk = chunk_files(train)[1]
    pair = _rewrite_row(chunk, column, 5, value)
    write_manifest(train)  # vouch for the damaged file, so the label check is what refuses it
    message = f"{chunk}: column '{column}' has 1 row(s) "
    with pytest.raises(DataError, match=re.escape(message)) as error:
        load_pairs(train)
    assert f"first at row 5 (pair_index {pair}," in str(error.value)
    assert words in str(error.value)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_enhance_refuses_response_times_beyond_float32() -> None:
    rng = np.random.default_rng(0)
    rewards = pa.table(
        {
            "pair_index": np.arange(200),
            "reward_1": rng.standard_normal(200),
            "reward_2": rng.standard_normal(200),
        }
    )
    with pytest.raises(DataError, match="labels simulated from r.parquet: column 'response_time'"):
        simulate_labels(rewards, barrier=1e40, seed=0, source="r.parquet")
