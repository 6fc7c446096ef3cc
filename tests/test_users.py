"""Simulated users, per-user barriers, the user-conditioned learners and per-user evaluation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rtpref import ddm
from rtpref.data import DataError, Pairs
from rtpref.learners import make_learner
from rtpref.names import PERSONALIZED, constructor_arguments
from rtpref.personalization import per_user_metrics, split_by_user
from rtpref.users import (
    UsersConfig,
    assign_users,
    draw_users,
    estimate_barriers,
    simulate_user_labels,
)

TINY_TRAINING = {
    "hidden": [8],
    "log_loss_hidden": [8],
    "log_loss_epochs": 2,
    "stage1_epochs": 2,
    "stage2_epochs": 2,
    "batch_size": 64,
    "user_rank": 2,
}


def test_assignment_is_seeded_heavy_tailed_and_gives_every_user_a_pair():
    config = UsersConfig(count=50, pairs_sigma=1.5, seed=3)
    user_id = assign_users(5000, config)
    np.testing.assert_array_equal(user_id, assign_users(5000, config))
    counts = np.bincount(user_id, minlength=50)
    assert counts.min() >= 1 and counts.sum() == 5000
    # Heavy tail: the busiest user labels far more than the median one.
    assert counts.max() > 4 * np.median(counts)
    with pytest.raises(DataError, match="users.count"):
        assign_users(10, config)


def test_control_users_change_neither_rewards_nor_barriers():
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((2, 300, 5))
    reward_1, reward_2 = rng.standard_normal((2, 300))
    config = UsersConfig(count=7, delta_scale=0.0, barrier_spread=0.0)
    users = draw_users(config, 5, barrier=1.3)
    labels = simulate_user_labels(
        reward_1, reward_2, x1, x2, assign_users(300, config), users, seed=1
    )
    np.testing.assert_array_equal(labels["reward_1"], reward_1)
    np.testing.assert_array_equal(users.barriers, np.full(7, 1.3))
    choice, time = ddm.simulate(reward_1 - reward_2, 1.3, np.random.default_rng(1))
    np.testing.assert_array_equal(labels["choice"], choice)
    np.testing.assert_array_equal(labels["response_time"], time)


def test_user_deltas_differ_between_users_and_scale_with_delta_scale():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 6))
    users = draw_users(UsersConfig(count=2, delta_scale=1.0, rank=3), 6, barrier=1.0)
    doubled = dataclasses.replace(users, delta_scale=2.0)
    first, second = np.zeros(400, np.int64), np.ones(400, np.int64)
    assert np.corrcoef(users.delta(x, first), users.delta(x, second))[0, 1] < 0.99
    np.testing.assert_allclose(doubled.delta(x, first), 2 * users.delta(x, first))
    with pytest.raises(DataError, match="user ids"):
        users.delta(x, np.full(400, 2))


def test_barrier_estimates_follow_the_truth_and_shrink_where_data_is_thin():
    rng = np.random.default_rng(2)
    count = 30
    truth = np.exp(0.4 * rng.standard_normal(count))
    user_id = np.repeat(np.arange(count), 300)
    drift = rng.standard_normal(user_id.size)
    _, time = ddm.simulate(drift, truth[user_id], rng)
    scaled = truth[user_id] * drift  # what a log-loss fit with barrier 1 estimates
    estimate = estimate_barriers(user_id, time, scaled, count + 1)
    assert np.corrcoef(np.log(estimate["barriers"][:count]), np.log(truth))[0, 1] > 0.9
    # The user id `count` has no pairs: it gets the population value.
    assert estimate["pairs"][count] == 0
    assert estimate["barriers"][count] == pytest.approx(estimate["population"])
    # With a handful of pairs per user the shrunk estimates spread less than the raw ones.
    few = np.concatenate([np.flatnonzero(user_id == u)[:3] for u in range(count)])
    thin = estimate_barriers(user_id[few], time[few], scaled[few], count)
    assert np.std(np.log(thin["barriers"])) < np.std(np.log(thin["raw"]))
    raw = estimate_barriers(user_id[few], time[few], scaled[few], count, shrink=False)
    np.testing.assert_allclose(raw["barriers"], raw["raw"])
    # Times minus a global t0 larger than a user's own can sum to <= 0: that user gets the
    # population value, and nobody gets NaN.
    shifted = time.copy()
    shifted[user_id == 0] = -0.1
    fast = estimate_barriers(user_id, shifted, scaled, count)
    assert np.all(np.isfinite(fast["barriers"]))
    assert fast["barriers"][0] == pytest.approx(fast["population"])


def _pairs_with_users(rows: int = 240, users: int = 4, seed: int = 0) -> Pairs:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.standard_normal((2, rows, 3)).astype(np.float32)
    reward_1, reward_2 = x1[:, 0].astype(float), x2[:, 0].astype(float)
    user_id = np.arange(rows) % users
    choice, time = ddm.simulate(reward_1 - reward_2, 1.0 + 0.5 * (user_id % 2), rng)
    return Pairs(
        pair_index=np.arange(rows),
        x1=x1,
        x2=x2,
        reward_1=reward_1,
        reward_2=reward_2,
        choice=choice,
        response_time=time,
        user_id=user_id.astype(np.int64),
    )


@pytest.mark.parametrize("algorithm", ["log_loss_personalized", "orthogonal_personalized"])
def test_personalized_learner_is_antisymmetric_and_falls_back_to_the_base_model(algorithm):
    pairs = _pairs_with_users()
    training = dict(TINY_TRAINING)
    if algorithm != "log_loss_personalized":
        training["per_user_barrier"] = True
    learner = make_learner(algorithm, training, barrier=1.0, seed=0).fit(pairs)
    x1, x2, users = pairs.x1[:50], pairs.x2[:50], pairs.user_id[:50]
    forward = learner.predict_diff(x1, x2, users)
    np.testing.assert_allclose(learner.predict_diff(x2, x1, users), -forward, atol=1e-6)
    base = learner.predict_diff(x1, x2)
    assert not np.allclose(forward, base)  # seen users use their embeddings
    np.testing.assert_allclose(learner.predict_diff(x1, x2, np.full(50, 99)), base)
    if algorithm != "log_loss_personalized":
        assert sorted(learner.barriers_by_user()) == [0, 1, 2, 3]


def test_personalized_learner_without_user_ids_is_a_clear_error():
    pairs = dataclasses.replace(_pairs_with_users(), user_id=None)
    learner = make_learner("log_loss_personalized", TINY_TRAINING, barrier=1.0)
    with pytest.raises(DataError, match="user_id"):
        learner.fit(pairs)


def test_personalized_options_reach_only_the_learners_that_use_them():
    options = {**TINY_TRAINING, "per_user_barrier": True}
    assert constructor_arguments("orthogonal_personalized", options)["per_user_barrier"]
    # log_loss reads no response times: the barrier options are not its arguments.
    assert "per_user_barrier" not in constructor_arguments("log_loss_personalized", options)
    assert "user_rank" not in constructor_arguments("orthogonal", options)
    assert len(PERSONALIZED) == 4


def test_user_split_keeps_unseen_users_out_of_training():
    user_id = assign_users(2000, UsersConfig(count=40, seed=1))
    train, seen, unseen = split_by_user(user_id, unseen_fraction=0.25, test_fraction=0.2, seed=0)
    assert np.intersect1d(train, np.concatenate([seen, unseen])).size == 0
    assert train.size + seen.size + unseen.size == user_id.size
    assert np.intersect1d(user_id[train], user_id[unseen]).size == 0
    assert np.isin(user_id[seen], user_id[train]).all()
    assert np.unique(user_id[unseen]).size == 10


def test_per_user_evaluation_refuses_a_user_without_training_pairs():
    pairs = _pairs_with_users(40)
    predicted = pairs.reward_diff
    metrics = per_user_metrics(predicted, pairs, np.arange(4), "seen")
    assert metrics["mse"] == 0 and metrics["users"] == 4
    with pytest.raises(DataError, match="no training pairs"):
        per_user_metrics(predicted, pairs, np.arange(3), "seen")
    with pytest.raises(DataError, match="not an unseen user"):
        per_user_metrics(predicted, pairs, np.arange(1), "unseen")


def _record(variant: str, seed: int, seen_mse: float, barriers: bool = False) -> dict:
    record = {
        "algorithm": "orthogonal",
        "variant": variant,
        "seed": seed,
        "seen_mse": seen_mse,
        "unseen_mse": 2 * seen_mse,
        "seen_user_errors": {"train_pairs": [1, 10, 300], "mse": [seen_mse] * 3},
    }
    if barriers:
        truth = [0.5, 1.0, 2.0, 4.0]
        record["barrier_estimates"] = {
            "user_id": [0, 1, 2, 3],
            "estimate": [t * 1.1 for t in truth],
            "truth": truth,
            "pairs": [250, 300, 400, 10],
        }
    return record


def test_summary_pairs_each_variant_with_the_global_model_of_its_seed(tmp_path):
    from rtpref.personalization_report import (
        markdown_table,
        plot_barrier_estimates,
        plot_mse_vs_user_pairs,
        summarize,
    )

    records = [
        *(_record("global", seed, 10.0 + seed) for seed in range(3)),
        *(_record("personalized", seed, 9.0 + seed) for seed in range(3)),
        *(_record("personalized_user_barriers", seed, 8.0 + seed, True) for seed in range(3)),
    ]
    summary = summarize(records)
    entry = next(e for e in summary["table"] if e["variant"] == "personalized_user_barriers")
    # Paired per seed: the difference is exactly -2 in every seed, so the interval is 0.
    assert entry["seen_mse_minus_global"]["mean"] == pytest.approx(-2.0)
    assert entry["seen_mse_minus_global"]["half_width"] == pytest.approx(0.0)
    # ... and what one barrier for everyone costs the same personalized learner.
    assert entry["seen_mse_minus_personalized"]["mean"] == pytest.approx(-1.0)
    # Only users with >= 200 training pairs enter the barrier correlation.
    assert entry["barrier_users"] == 9
    assert entry["barrier_log_corr"] == pytest.approx(1.0)
    assert "personalized_user_barriers" in markdown_table(summary)
    plot_mse_vs_user_pairs(records, tmp_path / "mse.png")
    plot_barrier_estimates(records, tmp_path / "barriers.png")
    assert (tmp_path / "mse.png").stat().st_size > 0 and (tmp_path / "barriers.png").exists()


def test_user_ids_travel_from_labels_through_chunks_to_pairs(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rtpref.chunks import features_to_arrow, load_pairs
    from rtpref.split import write_split_chunks

    rows = 30
    rng = np.random.default_rng(0)
    pair_index = np.arange(rows)
    user_id = rng.integers(0, 5, rows)
    labels = {
        "pair_index": pair_index,
        "reward_1": rng.standard_normal(rows),
        "reward_2": rng.standard_normal(rows),
        "choice": np.ones(rows, np.int8),
        "response_time": np.ones(rows),
    }
    features = pa.table(
        {
            "pair_index": pair_index,
            "x1": features_to_arrow(rng.standard_normal((rows, 3)).astype(np.float32)),
            "x2": features_to_arrow(rng.standard_normal((rows, 3)).astype(np.float32)),
        }
    )
    pq.write_table(features, tmp_path / "features.parquet")
    for name, extra in (("with", {"user_id": user_id}), ("without", {})):
        pq.write_table(pa.table({**labels, **extra}), tmp_path / f"{name}.parquet")
        write_split_chunks(
            tmp_path / f"{name}.parquet",
            [tmp_path / "features.parquet"],
            tmp_path / name / "train",
            tmp_path / name / "test",
            test_size=10,
            split_seed=0,
            rows_per_chunk=7,
        )
    train = load_pairs(tmp_path / "with" / "train", [1, 4, 9])
    np.testing.assert_array_equal(train.user_id, user_id[train.pair_index])
    assert load_pairs(tmp_path / "without" / "train").user_id is None
    # A run of the sweep on these chunks fits the personalized learner with its users.
    from rtpref.run import run_training

    record = run_training(
        tmp_path / "with" / "train",
        tmp_path / "with" / "test",
        "log_loss_personalized",
        size=20,
        seed=0,
        training=TINY_TRAINING,
        barrier=1.0,
    )
    assert record["test_rows"] == 10 and np.isfinite(record["mse"])
    # A null user is a clear error naming the column, not a silent mix of users.
    pq.write_table(
        pa.table({**labels, "user_id": pa.array([None, *user_id[1:]], pa.int64())}),
        tmp_path / "null.parquet",
    )
    with pytest.raises(DataError, match="user_id"):
        write_split_chunks(
            tmp_path / "null.parquet",
            [tmp_path / "features.parquet"],
            tmp_path / "null" / "train",
            tmp_path / "null" / "test",
            test_size=10,
            split_seed=0,
            rows_per_chunk=7,
        )


def test_one_tiny_world_fits_every_variant_and_records_barriers():
    from rtpref.personalization import run_experiment_seed

    users = {"enabled": True, "count": 6, "delta_scale": 0.5, "barrier_spread": 0.3}
    synthetic = {"n_pairs": 300, "dim": 3, "hidden": [4], "seed": 0}
    records = run_experiment_seed(
        synthetic,
        {**users, "non_decision_spread": 0.2, "algorithms": ["log_loss", "nonorthogonal"]},
        barrier=1.0,
        training=TINY_TRAINING,
        run_seed=0,
        non_decision_time=0.2,
    )
    assert [(r["algorithm"], r["variant"]) for r in records] == [
        ("log_loss", "global"),
        ("log_loss", "personalized"),
        ("nonorthogonal", "global"),
        ("nonorthogonal", "personalized"),
        ("nonorthogonal", "personalized_user_barriers"),
        ("nonorthogonal", "personalized_user_ddm"),
    ]
    assert all(r["train_users"] == 5 and r["unseen_users"] == 1 for r in records)
    barriers = records[-1]["barrier_estimates"]
    assert len(barriers["estimate"]) == 5 and all(a > 0 for a in barriers["estimate"])
    t0 = records[-1]["non_decision_estimates"]
    assert len(set(t0["truth"])) == 5 and "non_decision_estimates" not in records[-2]
    with pytest.raises(ValueError, match="users.enabled"):
        run_experiment_seed(synthetic, {**users, "enabled": False}, 1.0, TINY_TRAINING, 0)


def test_user_ids_of_raw_shards_join_the_rewards_and_a_missing_user_is_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rtpref.sources.demo import RAW_SCHEMA
    from rtpref.users import attach_user_ids

    def raw_shard(path, pair_index, user_id):
        columns = {
            name: pa.nulls(len(pair_index), field.type)
            for name, field in zip(RAW_SCHEMA.names, RAW_SCHEMA, strict=True)
        }
        columns["pair_index"] = pa.array(pair_index, pa.int64())
        columns["user_id"] = pa.array(user_id, pa.int64())
        pq.write_table(pa.table(columns, schema=RAW_SCHEMA), path)

    raw_shard(tmp_path / "shard-0.parquet", [0, 1, 2], [7, 8, 7])
    raw_shard(tmp_path / "shard-1.parquet", [3, 4], [9, 8])
    rewards = pa.table(
        {"pair_index": [4, 3, 2, 1, 0], "reward_1": [0.0] * 5, "reward_2": [1.0] * 5}
    )
    shards = [tmp_path / "shard-0.parquet", tmp_path / "shard-1.parquet"]
    joined = attach_user_ids(rewards, shards)
    assert joined.column("pair_index").to_pylist() == [0, 1, 2, 3, 4]
    assert joined.column("user_id").to_pylist() == [7, 8, 7, 9, 8]
    with pytest.raises(DataError, match="no user_id.*pair_index 3"):
        attach_user_ids(rewards, shards[:1])


def test_non_decision_times_spread_around_t0_and_shift_every_time_of_their_user():
    config = UsersConfig(count=40, non_decision_spread=0.3, seed=2)
    users = draw_users(config, 3, barrier=1.0, non_decision_time=0.25)
    assert np.all(users.non_decision_times > 0)
    assert np.exp(np.log(users.non_decision_times).mean()) == pytest.approx(0.25, rel=0.25)
    # Adding t0_u draws leaves the other draws of the same world as they were.
    plain = draw_users(dataclasses.replace(config, non_decision_spread=0.0), 3, 1.0, 0, 0.25)
    np.testing.assert_array_equal(plain.barriers, users.barriers)
    np.testing.assert_array_equal(plain.non_decision_times, np.full(40, 0.25))
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((2, 2000, 3))
    user_id = assign_users(2000, config)
    labels = simulate_user_labels(np.zeros(2000), np.zeros(2000), x1, x2, user_id, users, 1)
    fastest = np.full(40, np.inf)
    np.minimum.at(fastest, user_id, labels["response_time"])
    assert np.all(fastest > users.non_decision_times)
    with pytest.raises(ValueError, match="non_decision_time"):
        draw_users(config, 3, barrier=1.0)


def test_user_ddm_estimates_follow_the_truth_and_fall_back_where_data_is_thin():
    from rtpref.users import MIN_PAIRS_FOR_DDM, estimate_user_ddm

    rng = np.random.default_rng(3)
    count = 20
    barriers = np.exp(0.4 * rng.standard_normal(count))
    t0 = 0.3 * np.exp(0.3 * rng.standard_normal(count))
    user_id = np.repeat(np.arange(count), 200)
    drift = 1.5 * rng.standard_normal(user_id.size)
    _, time = ddm.simulate(drift, barriers[user_id], rng, non_decision_time=t0[user_id])
    scaled = barriers[user_id] * drift  # what a log-loss fit with barrier 1 estimates
    # The learners pass times minus the global t0; each user's shift from it is estimated.
    estimate = estimate_user_ddm(user_id, time - 0.3, scaled, count + 1)
    assert np.corrcoef(np.log(estimate["barriers"][:count]), np.log(barriers))[0, 1] > 0.9
    assert np.corrcoef(estimate["shifts"][:count], t0 - 0.3)[0, 1] > 0.9
    # The user id `count` has no pairs: it gets the population values.
    assert estimate["barriers"][count] == pytest.approx(estimate["population"])
    assert estimate["shifts"][count] == pytest.approx(estimate["population_shift"])
    assert np.isnan(estimate["raw_shifts"][count])
    # A user below the minimum keeps the population values; unshrunk estimates are the raw ones.
    few = np.concatenate(
        [np.flatnonzero(user_id == 0)[: MIN_PAIRS_FOR_DDM - 1], np.arange(200, 4000)]
    )
    thin = estimate_user_ddm(user_id[few], time[few] - 0.3, scaled[few], count, shrink=False)
    assert np.isnan(thin["raw_barriers"][0])
    assert thin["barriers"][0] == pytest.approx(thin["population"])
    np.testing.assert_allclose(thin["barriers"][1:], thin["raw_barriers"][1:])


def test_personalized_learner_starts_from_the_global_fit_and_may_keep_it():
    pairs = _pairs_with_users(seed=4)
    training = {**TINY_TRAINING, "log_loss_epochs": 4}
    personalized = make_learner("log_loss_personalized", training, barrier=1.0, seed=2)
    personalized.fit(pairs)
    plain = make_learner("log_loss", training, barrier=1.0, seed=2)
    plain.fit(dataclasses.replace(pairs, user_id=None))
    # g0 is exactly the global learner's fit: unseen users get the global model.
    np.testing.assert_array_equal(
        personalized.predict_diff(pairs.x1, pairs.x2), plain.predict_diff(pairs.x1, pairs.x2)
    )
    deltas = personalized.selection_["log_loss_users"]
    assert deltas.initial_validation_loss is not None
    assert 0 <= deltas.epochs_chosen <= deltas.epochs_run
    if deltas.epochs_chosen == 0:
        np.testing.assert_array_equal(
            personalized.predict_diff(pairs.x1, pairs.x2, pairs.user_id),
            plain.predict_diff(pairs.x1, pairs.x2),
        )


def test_training_keeps_the_starting_point_when_no_epoch_beats_it():
    import torch

    from rtpref.learners.loop import Optimisation, train

    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)

    def loss(batch):
        return ((model(batch["x"]).squeeze(-1) - batch["y"]) ** 2).mean()

    # Training pulls w toward 1; the validation rows want w = 0, where it starts.
    fit = {"x": torch.ones(32, 1), "y": torch.ones(32)}
    validation = {"x": torch.ones(8, 1), "y": torch.zeros(8)}
    settings = Optimisation(learning_rate=0.1, batch_size=8, patience=2)
    record = train(model, loss, fit, 5, settings, 0, "test", validation, include_initial=True)
    assert record.epochs_chosen == 0 and record.initial_validation_loss == 0.0
    assert model.weight.item() == 0.0
    plain = train(model, loss, fit, 3, settings, 0, "test", validation)
    assert plain.epochs_chosen == 1 and model.weight.item() != 0.0


def test_per_user_non_decision_needs_per_user_barriers():
    training = {**TINY_TRAINING, "per_user_non_decision": True}
    learner = make_learner("orthogonal_personalized", training, barrier=1.0)
    with pytest.raises(ValueError, match="per_user_barrier"):
        learner.fit(_pairs_with_users())
