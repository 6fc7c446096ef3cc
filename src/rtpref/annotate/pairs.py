"""Which pairs to ask: from a pairs file, drawn at random, or the most uncertain under a model.

Every source returns the same thing, a list of ``(item_1, item_2)`` item ids; the order within
a pair defines ``choice`` (+1 when ``item_1`` is chosen), not where the items are shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .items import ItemsError

Pair = tuple[str, str]

# Above this many items, active selection scores a seeded sample of candidate pairs instead of
# all n (n - 1) / 2 of them (at 2,000 items that is two million predictions).
MAX_ACTIVE_CANDIDATES = 200_000


class PreferenceModel(Protocol):
    """Anything with ``predict_diff``: the predicted reward difference r(x1) - r(x2) per row."""

    def predict_diff(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray: ...


def pairs_from_file(path: str | Path, known_ids: Sequence[str]) -> list[Pair]:
    """Read ``item_1`` and ``item_2`` from a Parquet file; every id must be in the items table."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path, columns=["item_1", "item_2"])
    except (OSError, ValueError, KeyError) as error:
        raise ItemsError(f"{path}: needs readable Parquet with columns 'item_1' and 'item_2' "
                         f"({error})") from error
    known = set(known_ids)
    columns = {name: table.column(name).to_pylist() for name in ("item_1", "item_2")}
    pairs = []
    for row, (first, second) in enumerate(zip(columns["item_1"], columns["item_2"], strict=True)):
        for name, value in (("item_1", first), ("item_2", second)):
            if value not in known:
                raise ItemsError(f"{path}: column {name!r}, row {row}: {value!r} is not an "
                                 f"item_id of the items table")
        if first == second:
            raise ItemsError(f"{path}: row {row}: an item paired with itself ({first!r})")
        pairs.append((first, second))
    if not pairs:
        raise ItemsError(f"{path}: the pairs file has no rows")
    return pairs


def _count_pairs(n_items: int) -> int:
    return n_items * (n_items - 1) // 2


def _distinct_pairs(n_items: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct unordered pairs of item positions (i < j), drawn with ``rng``."""
    if _count_pairs(n_items) <= 4 * MAX_ACTIVE_CANDIDATES:
        first, second = np.triu_indices(n_items, k=1)
        chosen = np.sort(rng.choice(len(first), size=count, replace=False))
        return np.stack([first[chosen], second[chosen]], axis=1)
    # Too many pairs to list: draw with rejection; count is far below the total here.
    seen: set[tuple[int, int]] = set()
    pairs = []
    while len(pairs) < count:
        a, b = sorted(rng.choice(n_items, size=2, replace=False).tolist())
        if (a, b) not in seen:
            seen.add((a, b))
            pairs.append((a, b))
    return np.asarray(pairs, dtype=np.int64)


def random_pairs(ids: Sequence[str], count: int, seed: int) -> list[Pair]:
    """``count`` distinct unordered pairs, each in a random order, drawn with ``seed``."""
    total = _count_pairs(len(ids))
    if not 1 <= count <= total:
        raise ItemsError(f"--random {count}: {len(ids)} items make {total} distinct pairs; ask "
                         f"for between 1 and {total}")
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(_distinct_pairs(len(ids), count, rng))
    flip = rng.random(count) < 0.5
    return [(ids[b], ids[a]) if f else (ids[a], ids[b]) for (a, b), f in zip(chosen, flip,
                                                                             strict=True)]


def most_uncertain_pairs(ids: Sequence[str], features: np.ndarray, model: PreferenceModel,
                         count: int, seed: int) -> list[Pair]:
    """The ``count`` pairs whose predicted reward difference is closest to zero.

    Under the Bradley-Terry / drift-diffusion model P(item_1 chosen) = sigmoid(2 a diff), so
    |diff| near zero is where the model is least sure which item a person will pick.
    """
    total = _count_pairs(len(ids))
    if not 1 <= count <= total:
        raise ItemsError(f"--active {count}: {len(ids)} items make {total} distinct pairs; ask "
                         f"for between 1 and {total}")
    if features.ndim != 2 or features.shape[0] != len(ids):
        raise ItemsError(f"features have shape {features.shape}; expected ({len(ids)}, width)")
    rng = np.random.default_rng(seed)
    candidates = min(total, max(count, MAX_ACTIVE_CANDIDATES))
    pairs = _distinct_pairs(len(ids), candidates, rng)
    diff = np.asarray(model.predict_diff(features[pairs[:, 0]], features[pairs[:, 1]]),
                      dtype=np.float64).reshape(-1)
    if diff.shape[0] != len(pairs) or not np.all(np.isfinite(diff)):
        raise ItemsError("the reward model returned missing or non-finite reward differences")
    # Stable sort: ties keep the seeded candidate order, so the plan is reproducible.
    chosen = pairs[np.argsort(np.abs(diff), kind="stable")[:count]]
    return [(ids[a], ids[b]) for a, b in rng.permutation(chosen)]


def load_features(path: str | Path, ids: Sequence[str], column: str = "x") -> np.ndarray:
    """Feature rows for ``ids`` from Parquet with ``item_id`` and a list-of-float ``column``."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path, columns=["item_id", column])
    except (OSError, ValueError, KeyError) as error:
        raise ItemsError(f"{path}: needs readable Parquet with columns 'item_id' and "
                         f"{column!r} ({error})") from error
    rows = dict(zip(table.column("item_id").to_pylist(), table.column(column).to_pylist(),
                    strict=True))
    missing = [item_id for item_id in ids if item_id not in rows]
    if missing:
        raise ItemsError(f"{path}: no features for item_id {missing[0]!r} "
                         f"({len(missing)} items missing)")
    widths = {len(rows[item_id]) for item_id in ids}
    if len(widths) != 1:
        raise ItemsError(f"{path}: column {column!r} has rows of widths {sorted(widths)}")
    features = np.asarray([rows[item_id] for item_id in ids], dtype=np.float32)
    if not np.all(np.isfinite(features)):
        raise ItemsError(f"{path}: column {column!r} holds NaN or infinite values")
    return features


def load_reward_model(directory: str | Path) -> PreferenceModel:
    """A saved reward model (``rtpref.RewardModel.from_pretrained``), imported only when used.

    Its ``predict_diff`` takes and returns numpy arrays, which is all active selection needs.
    """
    import rtpref

    try:
        reward_model = rtpref.RewardModel  # type: ignore[attr-defined]
    except AttributeError as error:
        raise ItemsError("--model needs rtpref.RewardModel, which this install lacks") from error
    return reward_model.from_pretrained(directory)


def annotator_rng(seed: int, annotator: str) -> np.random.Generator:
    """A generator for one annotator's order and placements: same seed and id, same draws."""
    digest = hashlib.sha256(annotator.encode("utf-8")).digest()
    return np.random.default_rng([seed, *np.frombuffer(digest[:16], dtype=np.uint32).tolist()])
