"""Parquet chunks: round trip, zero-copy reads, independence of sharding, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtpref.chunks import (
    ChunkWriter,
    features_to_arrow,
    features_to_numpy,
    index_chunks,
    load_pairs,
)
from rtpref.data import DataError
from rtpref.manifest import MANIFEST_NAME, chunk_files, write_manifest
from rtpref.split import write_split_chunks

ROWS, DIM = 1000, 6


def make_inputs(tmp_path: Path, shards: int, rows: int = ROWS, seed: int = 0
                ) -> tuple[Path, list[Path]]:
    rng = np.random.default_rng(seed)
    pair_index = np.arange(rows, dtype=np.int64) * 3 + 5  # ids need not be 0..n-1
    x1 = rng.standard_normal((rows, DIM)).astype(np.float32)
    x2 = rng.standard_normal((rows, DIM)).astype(np.float32)
    labels = pa.table({
        "pair_index": pair_index[::-1].copy(),  # any row order; chunks sort by pair_index
        "reward_1": rng.standard_normal(rows), "reward_2": rng.standard_normal(rows),
        "choice": rng.choice(np.array([-1, 1], dtype=np.int8), rows),
        "response_time": rng.random(rows) + 0.1,
    })
    labels_path = tmp_path / "labels.parquet"
    pq.write_table(labels, labels_path)
    paths = []
    for shard, rows_of_shard in enumerate(np.array_split(np.arange(rows), shards)):
        path = tmp_path / f"features-{shards}-{shard}.parquet"
        pq.write_table(pa.table({"pair_index": pair_index[rows_of_shard],
                                 "x1": features_to_arrow(x1[rows_of_shard]),
                                 "x2": features_to_arrow(x2[rows_of_shard])}), path)
        paths.append(path)
    return labels_path, paths


def build(tmp_path: Path, labels: Path, features: list[Path], tag: str, test_size: int = 200,
          rows_per_chunk: int = 300) -> tuple[Path, Path]:
    train, test = tmp_path / f"{tag}-train", tmp_path / f"{tag}-test"
    write_split_chunks(labels, features, train, test, test_size, 0, rows_per_chunk)
    return train, test


def test_round_trip_and_split(tmp_path: Path) -> None:
    labels, features = make_inputs(tmp_path, 2)
    train, test = build(tmp_path, labels, features, "a")
    assert index_chunks(train).num_rows == ROWS - 200 and index_chunks(test).num_rows == 200
    assert [pq.ParquetFile(f).metadata.num_rows for f in chunk_files(train)] == [300, 300, 200]
    both = [load_pairs(train), load_pairs(test)]
    ids = np.concatenate([pairs.pair_index for pairs in both])
    assert np.array_equal(np.sort(ids), np.arange(ROWS) * 3 + 5)
    for pairs in both:
        assert np.all(np.diff(pairs.pair_index) > 0)
    source = pq.read_table(labels).sort_by("pair_index")
    feature_table = pa.concat_tables([pq.read_table(p) for p in features])
    position = (both[0].pair_index - 5) // 3
    np.testing.assert_array_equal(both[0].x1, features_to_numpy(feature_table["x1"])[position])
    np.testing.assert_array_equal(both[0].reward_2, source["reward_2"].to_numpy()[position])
    np.testing.assert_array_equal(both[0].choice, source["choice"].to_numpy()[position])


def test_chunks_do_not_depend_on_the_number_of_feature_shards(tmp_path: Path) -> None:
    labels, one = make_inputs(tmp_path, 1)
    _, three = make_inputs(tmp_path, 3)
    dirs_one, dirs_three = build(tmp_path, labels, one, "one"), build(tmp_path, labels, three,
                                                                       "three")
    for left, right in zip(dirs_one, dirs_three, strict=True):
        left_files, right_files = chunk_files(left), chunk_files(right)
        assert [f.name for f in left_files] == [f.name for f in right_files]
        for a, b in zip(left_files, right_files, strict=True):
            assert pq.read_table(a).equals(pq.read_table(b))


def test_selected_rows_are_read(tmp_path: Path) -> None:
    labels, features = make_inputs(tmp_path, 2)
    train, _ = build(tmp_path, labels, features, "a", rows_per_chunk=128)
    everything = load_pairs(train)
    rows = np.array([799, 0, 5, 127, 128, 300, 301])
    picked = load_pairs(train, rows)
    np.testing.assert_array_equal(picked.x2, everything.x2[np.sort(rows)])
    np.testing.assert_array_equal(picked.pair_index, everything.pair_index[np.sort(rows)])
    with pytest.raises(DataError, match="only 800 exist"):
        load_pairs(train, [800])


def test_features_are_read_zero_copy() -> None:
    matrix = np.arange(24, dtype=np.float32).reshape(4, 6)
    column = features_to_arrow(matrix)
    array = features_to_numpy(column)
    np.testing.assert_array_equal(array, matrix)
    values_buffer = column.values.buffers()[1]
    assert array.__array_interface__["data"][0] == values_buffer.address


def test_missing_column_is_named(tmp_path: Path) -> None:
    labels, features = make_inputs(tmp_path, 1)
    pq.write_table(pq.read_table(labels).drop_columns(["response_time"]), labels)
    with pytest.raises(DataError, match=r"labels\.parquet.*response_time"):
        build(tmp_path, labels, features, "a")
    assert not (tmp_path / "a-train").exists() and not (tmp_path / "a-test").exists()


def test_nan_features_name_file_and_row(tmp_path: Path) -> None:
    labels, features = make_inputs(tmp_path, 2)
    table = pq.read_table(features[1])
    x1 = features_to_numpy(table["x1"]).copy()
    x1[7, 2] = np.nan
    pq.write_table(table.set_column(1, "x1", features_to_arrow(x1)), features[1])
    bad_id = int(table["pair_index"][7].as_py())
    with pytest.raises(DataError, match=rf"features-2-1\.parquet.*'x1'.*pair_index {bad_id}"):
        build(tmp_path, labels, features, "a")
    assert not list(tmp_path.glob("a-*"))


def test_duplicate_pair_ids_are_rejected(tmp_path: Path) -> None:
    labels, features = make_inputs(tmp_path, 1)
    table = pq.read_table(labels)
    ids = table["pair_index"].to_numpy().copy()
    ids[1] = ids[0]
    pq.write_table(table.set_column(0, "pair_index", pa.array(ids)), labels)
    with pytest.raises(DataError, match="duplicate pair_index"):
        build(tmp_path, labels, features, "a")


def test_corrupt_and_wrong_width_chunks(tmp_path: Path) -> None:
    labels, features = make_inputs(tmp_path, 1)
    train, _ = build(tmp_path, labels, features, "a")
    victim = chunk_files(train)[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=victim.name):
        load_pairs(train)
    wide = pa.table({"pair_index": pa.array([1], pa.int64()),
                     "x1": features_to_arrow(np.zeros((1, DIM + 1))),
                     "x2": features_to_arrow(np.zeros((1, DIM + 1))),
                     "reward_1": [0.0], "reward_2": [0.0],
                     "choice": pa.array([1], pa.int8()), "response_time": [1.0]})
    pq.write_table(wide, victim)
    # A directory whose manifest vouches for a bad file (a writer bug): the schema check remains.
    write_manifest(train)
    with pytest.raises(DataError, match=rf"{victim.name}.*width.*expected {DIM}"):
        load_pairs(train)


def test_test_size_must_leave_training_rows(tmp_path: Path) -> None:
    labels, features = make_inputs(tmp_path, 1, rows=50)
    with pytest.raises(DataError, match="test_size=50"):
        build(tmp_path, labels, features, "a", test_size=50)


def test_load_leaves_arrow_memory_pool_as_it_was(tmp_path: Path) -> None:
    labels, features = make_inputs(tmp_path, 1)
    train, _ = build(tmp_path, labels, features, "pool")
    before = pa.default_memory_pool().backend_name
    pairs = load_pairs(train)
    assert len(pairs) == ROWS - 200
    assert pa.default_memory_pool().backend_name == before
    # The pool is restored when a read fails, too: garbage over the data pages, footer intact.
    victim = chunk_files(train)[0]
    data = bytearray(victim.read_bytes())
    data[4:2000] = b"\xff" * 1996
    victim.write_bytes(bytes(data))
    with pytest.raises(DataError, match="row group 0 unreadable"):
        load_pairs(train)
    assert pa.default_memory_pool().backend_name == before


def _damage(train: Path, fault: str) -> Path:
    """Apply ``fault`` to the chunk directory ``train``; return the file it concerns."""
    files = chunk_files(train)
    if fault == "deleted":
        files[1].unlink()
        return files[1]
    if fault == "extra":
        extra = train / "chunk-00099.parquet"
        extra.write_bytes(files[0].read_bytes())
        return extra
    if fault == "truncated":
        # Fewer rows in a file that still reads: only the manifest can tell.
        pq.write_table(pq.read_table(files[1]).slice(0, 10), files[1])
        return files[1]
    if fault == "rewritten":
        # Same rows, same size: another pair_index in one row changes only the footer's stats.
        table = pq.read_table(files[0])
        ids = table["pair_index"].to_numpy().copy()
        ids[0] -= 1
        scratch = train.parent / "rewritten"
        scratch.mkdir()
        writer = ChunkWriter(scratch, DIM, table.num_rows)
        writer.append(table.set_column(0, "pair_index", pa.array(ids)))
        writer.close()
        (scratch / files[0].name).replace(files[0])
        return files[0]
    (train / MANIFEST_NAME).unlink()
    return train / MANIFEST_NAME


@pytest.mark.parametrize("fault", ["deleted", "extra", "truncated", "rewritten", "no_manifest"])
def test_changed_chunk_directory_is_refused_naming_the_file(tmp_path: Path, fault: str) -> None:
    labels, features = make_inputs(tmp_path, 1)
    train, _ = build(tmp_path, labels, features, "a")
    assert len(load_pairs(train)) == ROWS - 200
    victim = _damage(train, fault)
    for read in (index_chunks, load_pairs):
        with pytest.raises(DataError) as error:
            read(train)
        message = str(error.value)
        assert message.startswith(f"{victim}: "), message
        assert "delete it or rerun the chunks rule (`snakemake --forcerun chunks`" in message


def test_manifest_is_written_last_and_lists_every_file(tmp_path: Path) -> None:
    labels, features = make_inputs(tmp_path, 2)
    train, test = build(tmp_path, labels, features, "a")
    for directory, rows in ((train, ROWS - 200), (test, 200)):
        manifest = json.loads((directory / MANIFEST_NAME).read_text())
        files = chunk_files(directory)
        assert [record["name"] for record in manifest["files"]] == [f.name for f in files]
        assert manifest["rows"] == rows
        assert [record["bytes"] for record in manifest["files"]] == [
            f.stat().st_size for f in files
        ]
        assert (directory / MANIFEST_NAME).stat().st_mtime_ns >= max(
            f.stat().st_mtime_ns for f in files
        )
        assert sorted(p.name for p in directory.iterdir()) == sorted(
            [MANIFEST_NAME, *(f.name for f in files)]
        )
