"""Test-set metrics of a predicted reward difference, computed on a held-out set of pairs that
is the same for every run of an experiment: accuracy against the observed choices and against
the sign of the true reward difference, mean squared error of the reward difference, and the
true reward (policy value) and regret of choosing the item the prediction prefers."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def evaluate(
    predicted_diff: ArrayLike, choice: ArrayLike, reward_1: ArrayLike, reward_2: ArrayLike
) -> dict[str, float]:
    """accuracy vs observed choices, accuracy_true vs sign(r1 - r2), mse of the reward
    difference, and the value/regret of picking the item the prediction prefers."""
    diff = np.asarray(predicted_diff, dtype=np.float64)
    r1 = np.asarray(reward_1, dtype=np.float64)
    r2 = np.asarray(reward_2, dtype=np.float64)
    observed = np.asarray(choice)
    if not (diff.shape == r1.shape == r2.shape == observed.shape) or diff.ndim != 1:
        raise ValueError("predicted_diff, choice, reward_1, reward_2 must be 1-D of equal length")
    if diff.size == 0:
        raise ValueError("cannot evaluate on an empty test set")
    if not np.all(np.isfinite(diff)):
        raise ValueError(f"{int((~np.isfinite(diff)).sum())} predicted differences are NaN/inf")
    prefers_first = diff > 0
    chosen = np.where(prefers_first, r1, r2)
    true_diff = r1 - r2
    return {
        "accuracy": float(np.mean(np.where(prefers_first, 1, -1) == observed)),
        "accuracy_true": float(np.mean(prefers_first == (true_diff > 0))),
        "mse": float(np.mean((diff - true_diff) ** 2)),
        "policy_value": float(np.mean(chosen)),
        "regret": float(np.mean(np.maximum(r1, r2) - chosen)),
    }


def nuisance_errors(
    time_hat: ArrayLike | None,
    diff_hat: ArrayLike | None,
    reward_1: ArrayLike,
    reward_2: ArrayLike,
    barrier: float,
) -> dict[str, float | None]:
    """Stage-1 quality on simulated data: RMSE of t_hat vs the true E[T|v], of the best
    constant vs E[T|v] (what a t_hat that learned nothing scores), and of diff_hat vs v."""
    from rtpref import ddm

    true_diff = np.asarray(reward_1, dtype=np.float64) - np.asarray(reward_2, dtype=np.float64)
    true_time = ddm.mean_time(true_diff, barrier)

    def rmse(predicted: ArrayLike | None, truth: np.ndarray) -> float | None:
        if predicted is None:
            return None
        return float(np.sqrt(np.mean((np.asarray(predicted, dtype=np.float64) - truth) ** 2)))

    return {
        "time_rmse": rmse(time_hat, true_time),
        "time_rmse_constant": float(np.std(true_time)),
        "stage1_diff_rmse": rmse(diff_hat, true_diff),
    }
