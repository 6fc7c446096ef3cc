"""Test-set metrics of a saved reward model beyond the pairwise ones: best-of-k regret, and the
held-out fit of choices and response times (which needs no true rewards)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rtpref.calibration import log_choice_prob, log_time_density
from rtpref.data import DataError, Pairs
from rtpref.metrics import evaluate
from rtpref.names import METRICS


def best_of_k_groups(
    items: int, k: int, seed: int, prompts: NDArray | None = None
) -> list[NDArray[np.int64]]:
    """Disjoint groups of ``k`` item positions out of ``items``.

    With ``prompts`` (one label per item) a group only holds items of one prompt, as a
    best-of-k sampler draws k candidates for one prompt; otherwise items are grouped at random.
    Leftover items (fewer than k of a prompt) are not used. Seeded, so runs share the groups.
    """
    rng = np.random.default_rng([seed, k])
    order = rng.permutation(items)
    if prompts is None:
        usable = order[: items - items % k]
        return list(usable.reshape(-1, k))
    labels = np.asarray(prompts)[order]
    groups = []
    # A stable sort keeps the random order within each prompt.
    by_prompt = order[np.argsort(labels, kind="stable")]
    sorted_labels = labels[np.argsort(labels, kind="stable")]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    ends = np.r_[starts[1:], len(sorted_labels)]
    for start, end in zip(starts, ends, strict=True):
        members = by_prompt[start:end]
        groups.extend(members[: len(members) - len(members) % k].reshape(-1, k))
    return groups


def regret_at_k(
    true_reward: NDArray, predicted_reward: NDArray, groups: Sequence[NDArray]
) -> float:
    """Mean over groups of (best true reward - true reward of the item the model picks)."""
    if not groups:
        return float("nan")
    index = np.stack(groups)
    true = np.asarray(true_reward, np.float64)[index]
    picked = np.argmax(np.asarray(predicted_reward, np.float64)[index], axis=1)
    return float(np.mean(true.max(axis=1) - true[np.arange(len(index)), picked]))


def heldout_fit(
    predicted_diff: NDArray,
    choice: NDArray,
    response_time: NDArray,
    barrier: float,
    non_decision_time: float,
) -> dict[str, float]:
    """Fit of the observed choices and times under the DDM with drift = predicted difference:
    mean log P(Y), mean log density of T - t0 (over pairs with T > t0, whose count is
    ``time_rows_below_t0``), and the RMSE of T against t0 + E[T | drift]."""
    from rtpref import ddm

    diff = np.asarray(predicted_diff, np.float64)
    time = np.asarray(response_time, np.float64) - non_decision_time
    above = time > 0
    return {
        "choice_log_likelihood": float(np.mean(log_choice_prob(choice, diff, barrier))),
        "time_log_likelihood": (
            float(np.mean(log_time_density(time[above], diff[above], barrier)))
            if above.any()
            else float("nan")
        ),
        "time_rows_below_t0": int((~above).sum()),
        "time_fit_rmse": float(np.sqrt(np.mean((time - ddm.mean_time(diff, barrier)) ** 2))),
    }


def rewards_known(pairs: Pairs) -> bool:
    """False for recorded data, whose reward columns are all NaN (unknown)."""
    return not (np.isnan(pairs.reward_1).all() and np.isnan(pairs.reward_2).all())


def evaluate_model(
    model: Any,
    test_pairs: Pairs,
    diff: NDArray[np.float64],
    best_of: Sequence[int] = (4, 16),
    seed: int = 0,
    prompts: NDArray | None = None,
) -> dict[str, Any]:
    """Metrics of a RewardModel whose predicted differences on ``test_pairs`` are ``diff``.

    With unknown rewards the reward-based metrics are None (JSON null), not made up.
    ``prompts`` labels each test pair's prompt (both items of a pair share it).
    """
    known = rewards_known(test_pairs)
    if known:
        metrics: dict[str, Any] = evaluate(
            diff, test_pairs.choice, test_pairs.reward_1, test_pairs.reward_2
        )
    else:
        prefers_first = np.where(diff > 0, 1, -1)
        metrics = {name: None for name in METRICS}
        metrics["accuracy"] = float(np.mean(prefers_first == test_pairs.choice))
    metrics.update(
        heldout_fit(
            diff,
            test_pairs.choice,
            test_pairs.response_time,
            model.barrier,
            model.non_decision_time,
        )
    )
    if best_of:
        rewards = np.concatenate([test_pairs.reward_1, test_pairs.reward_2])
        item_prompts = None if prompts is None else np.concatenate([prompts, prompts])
        # Prompt groups where every k finds a prompt with k test items; random ones otherwise
        # (the demo's captions, drawn from ~20,000 scenes, rarely repeat).
        if item_prompts is not None and not all(
            best_of_k_groups(rewards.size, k, seed, item_prompts) for k in best_of
        ):
            item_prompts = None
        metrics["best_of_grouping"] = "random" if item_prompts is None else "prompt"
        predicted = (
            model.predict_reward(np.concatenate([test_pairs.x1, test_pairs.x2])) if known else None
        )
        for k in best_of:
            groups = best_of_k_groups(rewards.size, k, seed, item_prompts)
            metrics[f"regret_at_{k}"] = regret_at_k(rewards, predicted, groups) if known else None
    return metrics


def prompts_of_pairs(prompts_file: str | Path | None, pair_index: NDArray) -> NDArray | None:
    """The prompt of each test pair (by pair_index) from a table of pair_index and prompt
    (image sources: the caption) or prompt_id (the text source's groups)."""
    if prompts_file is None:
        return None
    import pyarrow.parquet as pq

    names = pq.read_schema(prompts_file).names
    column = "prompt" if "prompt" in names else "prompt_id"
    table = pq.read_table(prompts_file, columns=["pair_index", column])
    known = table.column("pair_index").to_numpy()
    order = np.argsort(known)
    positions = np.searchsorted(known, pair_index, sorter=order)
    rows = order[np.minimum(positions, len(known) - 1)]
    missing = known[rows] != pair_index
    if missing.any():
        raise DataError(
            f"{prompts_file}: no prompt for test pair_index {int(pair_index[missing][0])}"
        )
    return np.asarray(table.column(column).to_pylist(), dtype=object)[rows]


def write_prompts(raw_shards: Sequence[str | Path], out: str | Path) -> None:
    """(pair_index, prompt) of every pair of the raw shards, for best-of-k prompt groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rtpref.io import write_parquet

    tables = [pq.read_table(path, columns=["pair_index", "caption"]) for path in raw_shards]
    table = pa.concat_tables(tables).rename_columns(["pair_index", "prompt"])
    write_parquet(out, table)
