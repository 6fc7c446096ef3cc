"""The chunks stage: join per-pair labels with features and write train/test chunk directories.

Labels (one file: pair_index, rewards, choice, response_time) are read whole; features (x1,
x2 by pair_index, one file per shard) stream by in record batches, each joined to its labels
and sent to the train or test chunk writer. Feature files must together hold each labelled pair
exactly once, in ascending pair_index order (raw shards are contiguous ranges), so the chunks do
not depend on the shard count. The test set is ``test_size`` pairs drawn with ``split_seed``;
both parts keep pair order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from rtpref.chunks import (
    FEATURE_COLUMNS,
    LABEL_COLUMNS,
    ROW_GROUP_ROWS,
    USER_COLUMN,
    ChunkWriter,
    features_to_numpy,
)
from rtpref.data import DataError, check_finite, open_parquet
from rtpref.io import atomic_path, write_json
from rtpref.labels import check_labels
from rtpref.users import unseen_user_ids

log = logging.getLogger(__name__)


def read_labels(path: Path) -> pa.Table:
    """The label columns of ``path`` (and ``user_id`` where present) sorted by pair_index,
    with unique ids and finite values."""
    parquet = open_parquet(path, LABEL_COLUMNS)
    users = [USER_COLUMN] if USER_COLUMN in parquet.schema_arrow.names else []
    labels = parquet.read(columns=[*LABEL_COLUMNS, *users]).sort_by("pair_index")
    pair_index = labels.column("pair_index").to_numpy()
    duplicated = np.flatnonzero(np.diff(pair_index) == 0)
    if duplicated.size:
        raise DataError(
            f"{path}: duplicate pair_index {int(pair_index[duplicated[0]])} "
            f"({duplicated.size} duplicate(s))"
        )
    for name in ("reward_1", "reward_2", "response_time"):
        check_finite(
            name, labels.column(name).to_numpy(), pair_index, str(path), rewards_may_be_unknown=True
        )
    check_labels(
        labels.column("choice").to_numpy(),
        labels.column("response_time").to_numpy(),
        pair_index,
        str(path),
    )
    if users and labels.column(USER_COLUMN).null_count:
        row = int(np.flatnonzero(labels.column(USER_COLUMN).is_null().to_numpy())[0])
        raise DataError(
            f"{path}: column {USER_COLUMN!r} is null in row {row} (pair_index "
            f"{int(pair_index[row])}); every pair needs its user when users are on"
        )
    if users and not pa.types.is_integer(labels.column(USER_COLUMN).type):
        # Chunks hold users as int64: recorded ids (strings) become their rank among the
        # sorted distinct ids.
        ids = labels.column(USER_COLUMN).to_numpy(zero_copy_only=False).astype(str)
        codes = np.unique(ids, return_inverse=True)[1].astype(np.int64)
        position = labels.column_names.index(USER_COLUMN)
        labels = labels.set_column(position, USER_COLUMN, pa.array(codes))
    return labels


def draw_test_rows(total: int, test_size: int, split_seed: int, source: Path) -> NDArray[np.bool_]:
    """True for the ``test_size`` of ``total`` pairs (by sorted position) drawn for testing."""
    if not 0 < test_size < total:
        raise DataError(
            f"{source}: test_size={test_size} needs more than {test_size} pairs, found {total}"
        )
    is_test = np.zeros(total, dtype=bool)
    is_test[np.random.default_rng(split_seed).permutation(total)[:test_size]] = True
    return is_test


# Written next to the test chunks when the split is by user: which users are unseen.
USER_SPLIT_FILE = "users.json"


def draw_user_split(
    user_id: NDArray[np.int64],
    test_size: int,
    split_seed: int,
    unseen_fraction: float,
    users_seed: int,
    source: Path,
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """(is_test per pair by sorted position, unseen user ids): every pair of the unseen users
    (:func:`rtpref.users.unseen_user_ids`, chosen by id) is a test pair, and ``test_size``
    pairs of the seen users are drawn with ``split_seed`` for testing, never a seen user's
    first pair (by pair_index), so every seen user keeps at least one training pair."""
    unseen = unseen_user_ids(user_id, unseen_fraction, users_seed)
    is_unseen = np.isin(user_id, unseen)
    first = np.zeros(user_id.size, dtype=bool)
    first[np.unique(user_id, return_index=True)[1]] = True
    candidates = np.flatnonzero(~is_unseen & ~first)
    if not 0 < test_size <= candidates.size:
        raise DataError(
            f"{source}: test_size={test_size} seen-user test pairs asked for, but the "
            f"{int((~is_unseen).sum())} pairs of the {np.unique(user_id[~is_unseen]).size} seen "
            f"users have {candidates.size} to spare (each seen user keeps one training pair; "
            f"{unseen.size} unseen user(s) give all {int(is_unseen.sum())} of theirs to the "
            "test set); lower test_size or users.unseen_fraction"
        )
    is_test = is_unseen.copy()
    is_test[np.random.default_rng(split_seed).permutation(candidates)[:test_size]] = True
    return is_test, unseen


def feature_batches(feature_paths: list[str | Path]) -> Iterator[tuple[str, pa.RecordBatch]]:
    """(file, batch) of (pair_index, x1, x2) over all files; ids strictly ascending, finite."""
    previous = -1
    columns = ["pair_index", *FEATURE_COLUMNS]
    for feature_path in feature_paths:
        parquet = open_parquet(feature_path, columns)
        try:
            for batch in parquet.iter_batches(batch_size=ROW_GROUP_ROWS, columns=columns):
                pair_index = batch.column("pair_index").to_numpy()
                if pair_index.size == 0:
                    continue
                if pair_index[0] <= previous or np.any(np.diff(pair_index) <= 0):
                    raise DataError(
                        f"{feature_path}: pair_index not strictly ascending across "
                        f"feature files near pair_index {int(pair_index[0])} "
                        "(duplicate pair or shards out of order)"
                    )
                previous = int(pair_index[-1])
                for name in FEATURE_COLUMNS:
                    features = features_to_numpy(batch.column(name), str(feature_path))
                    check_finite(name, features, pair_index, str(feature_path))
                yield str(feature_path), batch
        except (pa.ArrowException, OSError) as error:
            raise DataError(f"{feature_path}: unreadable ({error})") from error


def label_positions(
    label_index: NDArray[np.int64], pair_index: NDArray[np.int64], source: str, labels_path: Path
) -> NDArray[np.int64]:
    """Positions in the sorted ``label_index`` of each id of ``pair_index``; all must exist."""
    total = label_index.size
    positions = np.searchsorted(label_index, pair_index)
    found = (positions < total) & (label_index[np.minimum(positions, total - 1)] == pair_index)
    if not found.all():
        missing = int(pair_index[np.flatnonzero(~found)[0]])
        raise DataError(
            f"{source}: pair_index {missing} has features but no labels in {labels_path}"
        )
    return positions


def joined_table(
    batch: pa.RecordBatch, pair_index: NDArray[np.int64], labels: pa.Table, positions: NDArray
) -> pa.Table:
    """A batch of features with the labels of its pairs, in the chunk column order."""
    joined = labels.take(pa.array(positions)).drop_columns(["pair_index"])
    return pa.table(
        {
            "pair_index": pa.array(pair_index),
            "x1": batch.column("x1"),
            "x2": batch.column("x2"),
            **{name: joined.column(name) for name in joined.column_names},
        }
    )


def write_split_chunks(
    labels_path: str | Path,
    feature_paths: list[str | Path],
    train_dir: str | Path,
    test_dir: str | Path,
    test_size: int,
    split_seed: int,
    rows_per_chunk: int,
    user_split: dict | None = None,
) -> dict[str, int]:
    """Join labels with features by pair_index and write train/test chunk directories.

    ``user_split`` ({"unseen_fraction", "seed"}, image sources with users on) splits by user
    when the labels carry ``user_id`` and the fraction is > 0: see :func:`draw_user_split`;
    the unseen users are recorded in ``users.json`` of the test directory. Otherwise
    ``test_size`` pairs are drawn at random."""
    labels_path = Path(labels_path)
    labels = read_labels(labels_path)
    label_index = labels.column("pair_index").to_numpy()
    total = labels.num_rows
    by_user = (
        user_split is not None
        and user_split.get("unseen_fraction", 0) > 0
        and USER_COLUMN in labels.column_names
    )
    record = None
    if by_user:
        user_id = labels.column(USER_COLUMN).to_numpy()
        is_test, unseen = draw_user_split(
            user_id,
            test_size,
            split_seed,
            user_split["unseen_fraction"],
            user_split.get("seed", 0),
            labels_path,
        )
        record = {
            "unseen_fraction": user_split["unseen_fraction"],
            "seed": user_split.get("seed", 0),
            "users": int(np.unique(user_id).size),
            "unseen_users": unseen.tolist(),
            "unseen_pairs": int(np.isin(user_id, unseen).sum()),
            "seen_test_pairs": int(test_size),
        }
        log.info(
            "split by user: %d of %d users unseen (%d pairs, all test), %d seen-user test pairs",
            unseen.size,
            record["users"],
            record["unseen_pairs"],
            test_size,
        )
    else:
        is_test = draw_test_rows(total, test_size, split_seed, labels_path)
    test_rows = int(is_test.sum())
    matched = np.zeros(total, dtype=bool)
    dim = None
    with (
        atomic_path(train_dir, directory=True) as train_tmp,
        atomic_path(test_dir, directory=True) as test_tmp,
    ):
        writers: dict[bool, ChunkWriter] = {}
        for feature_path, batch in feature_batches(feature_paths):
            if dim is None:
                dim = batch.schema.field("x1").type.list_size
                users = USER_COLUMN in labels.column_names
                writers = {
                    False: ChunkWriter(train_tmp, dim, rows_per_chunk, users),
                    True: ChunkWriter(test_tmp, dim, rows_per_chunk, users),
                }
            pair_index = batch.column("pair_index").to_numpy()
            positions = label_positions(label_index, pair_index, feature_path, labels_path)
            matched[positions] = True
            table = joined_table(batch, pair_index, labels, positions)
            for part, writer in writers.items():
                mask = is_test[positions] == part
                if mask.any():
                    writer.append(table.filter(pa.array(mask)))
        if not matched.all():
            missing = int(label_index[np.flatnonzero(~matched)[0]])
            raise DataError(
                f"{labels_path}: {int((~matched).sum())} labelled pair(s) have no "
                f"features, first pair_index {missing}"
            )
        for writer in writers.values():
            writer.close()
        if record is not None:
            write_json(Path(test_tmp) / USER_SPLIT_FILE, record)
    train_rows = total - test_rows
    log.info("chunks: %d train, %d test rows, dim %s", train_rows, test_rows, dim)
    return {"train_rows": train_rows, "test_rows": test_rows, "dim": int(dim or 0)}
