"""Metrics, reward-to-label simulation and the synthetic source."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from rtpref.data import DataError
from rtpref.enhance import SignCheckError, check_choice_sign, simulate_labels
from rtpref.metrics import evaluate
from rtpref.sources.synthetic import SyntheticConfig, make_pairs


def test_metrics_by_hand() -> None:
    predicted = np.array([0.5, -1.0, 2.0, -0.1])
    choice = np.array([1, 1, 1, -1])
    r1 = np.array([1.0, 0.0, 3.0, 0.2])
    r2 = np.array([0.0, 1.0, 2.5, 0.0])
    metrics = evaluate(predicted, choice, r1, r2)
    assert metrics["accuracy"] == 0.75  # predicted choices +1, -1, +1, -1 vs 1, 1, 1, -1
    assert metrics["accuracy_true"] == 0.75
    assert metrics["mse"] == pytest.approx(np.mean([0.25, 0.0, 2.25, 0.09]))
    chosen = np.array([1.0, 1.0, 3.0, 0.0])
    assert metrics["policy_value"] == pytest.approx(chosen.mean())
    assert metrics["regret"] == pytest.approx(np.mean([0, 0, 0, 0.2]))


def test_metrics_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="NaN"):
        evaluate([np.nan], [1], [0.0], [1.0])
    with pytest.raises(ValueError, match="empty"):
        evaluate([], [], [], [])


def rewards_table(rows: int = 5000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"pair_index": np.arange(rows), "reward_1": rng.normal(size=rows) * 3,
                     "reward_2": rng.normal(size=rows) * 3})


def test_labels_follow_rewards_and_scaling() -> None:
    labels = simulate_labels(rewards_table(), barrier=1.0, seed=0, reward_diff_std=1.0)
    drift = labels["reward_1"].to_numpy() - labels["reward_2"].to_numpy()
    assert np.std(drift) == pytest.approx(1.0)
    assert np.corrcoef(labels["choice"].to_numpy(), drift)[0, 1] > 0.3
    raw = labels["raw_reward_1"].to_numpy() - labels["raw_reward_2"].to_numpy()
    np.testing.assert_allclose(drift, raw / np.std(raw))
    again = simulate_labels(rewards_table(), barrier=1.0, seed=0, reward_diff_std=1.0)
    assert again.equals(labels)


def test_sign_check_catches_a_flip() -> None:
    rng = np.random.default_rng(0)
    drift = rng.normal(size=2000)
    choice = np.where(drift > 0, 1, -1)
    assert check_choice_sign(choice, drift, "x") > 0
    with pytest.raises(SignCheckError, match="flipped"):
        check_choice_sign(-choice, drift, "pairs.parquet")


def test_labels_reject_bad_rewards() -> None:
    table = rewards_table(10)
    with pytest.raises(DataError, match="missing column"):
        simulate_labels(table.drop_columns(["reward_2"]), 1.0, 0, source="s.parquet")
    bad = table.set_column(1, "reward_1", pa.array([np.nan] + [0.0] * 9))
    with pytest.raises(DataError, match="s.parquet.*reward_1.*pair_index 0"):
        simulate_labels(bad, 1.0, 0, source="s.parquet")


def test_synthetic_source_is_seeded_and_consistent() -> None:
    config = SyntheticConfig(n_pairs=300, dim=4, hidden=(8, 4), weight_scale=2.0, seed=1)
    features, rewards = make_pairs(config)
    again, _ = make_pairs(config)
    assert features.equals(again)
    other, _ = make_pairs(SyntheticConfig(n_pairs=300, dim=4, hidden=(8, 4), seed=2))
    assert not features.equals(other)
    assert features.schema.field("x1").type == pa.list_(pa.float32(), 4)
    assert np.std(rewards["reward_1"].to_numpy()) > 0


def test_each_run_seed_draws_its_own_reward_function_unless_one_is_fixed() -> None:
    settings = {"n_pairs": 50, "dim": 3, "hidden": [4], "weight_scale": 2.0, "seed": 0}
    probe = np.random.default_rng(9).standard_normal((20, 3)).astype(np.float32)

    def reward_and_rows(run_seed: int, reward_seed: int | None):
        from rtpref.sources.synthetic import RewardFunction, world_config

        config = world_config({**settings, "reward_seed": reward_seed}, run_seed)
        features, _ = make_pairs(config)
        rng = np.random.default_rng(config.seed if reward_seed is None else reward_seed)
        function = RewardFunction(config.dim, config.hidden, config.weight_scale, rng)
        return function(probe), features

    own = [reward_and_rows(seed, None) for seed in (0, 1)]
    assert not np.allclose(own[0][0], own[1][0])
    assert not own[0][1].equals(own[1][1])
    fixed = [reward_and_rows(seed, 5) for seed in (0, 1)]
    np.testing.assert_array_equal(fixed[0][0], fixed[1][0])
    assert not fixed[0][1].equals(fixed[1][1])


def test_nuisance_errors_against_the_truth() -> None:
    from rtpref import ddm
    from rtpref.metrics import nuisance_errors

    r1, r2 = np.array([0.0, 1.0, 3.0]), np.array([0.5, -1.0, 0.0])
    truth = ddm.mean_time(r1 - r2, 1.0)
    exact = nuisance_errors(truth, r1 - r2, r1, r2, 1.0)
    assert exact["time_rmse"] == 0 and exact["stage1_diff_rmse"] == 0
    off = nuisance_errors(truth + 0.1, None, r1, r2, 1.0)
    assert off["time_rmse"] == pytest.approx(0.1) and off["stage1_diff_rmse"] is None
    assert off["time_rmse_constant"] == pytest.approx(np.std(truth))
