"""Users on image sources: simulated users keyed by real user ids on top of the scorer's
rewards, the split by user, per-user (seen / unseen) metrics of the sweep, and Snakemake end to
end on a small local dataset in the Pick-a-Pic schema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REPO, load_test_config, planned_jobs, without_slurm_probe
from image_helpers import (
    pickapic_rows,
    save_pickapic_parquet,
    save_tiny_open_clip,
    save_tiny_transformers_clip,
)

from rtpref import ddm
from rtpref.chunks import features_to_arrow, load_pairs
from rtpref.data import DataError, Pairs
from rtpref.enhance import simulate_labels
from rtpref.metrics import evaluate
from rtpref.names import USER_METRICS
from rtpref.split import USER_SPLIT_FILE, draw_user_split, write_split_chunks
from rtpref.summary import collect
from rtpref.user_metrics import user_group_metrics
from rtpref.users import UsersConfig, draw_users_for_ids, unseen_user_ids

# Real ids are arbitrary int64s: negative, huge, sparse.
IDS = np.array([-7, 3, 12, 40_000_000_001, 2**62, 91], np.int64)
NO_HUB = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"}


# --- users drawn per id ---------------------------------------------------------------------


def _users(**overrides):
    values = {"enabled": True, "delta_scale": 0.5, "rank": 3, "barrier_spread": 0.4}
    return UsersConfig(**{**values, "non_decision_spread": 0.3, "seed": 5, **overrides})


def test_a_users_draws_depend_on_their_id_only_not_on_the_other_ids():
    config = _users()
    everyone = draw_users_for_ids(config, IDS, dim=6, barrier=1.5, non_decision_time=0.2)
    # Fewer users, in another order and with repeats, plus a newcomer.
    some_ids = np.array([2**62, 3, 3, -7, 555], np.int64)
    some = draw_users_for_ids(config, some_ids, dim=6, barrier=1.5, non_decision_time=0.2)
    for user in (-7, 3, 2**62):
        a = everyone.rows(np.array([user]))
        b = some.rows(np.array([user]))
        np.testing.assert_array_equal(everyone.users.embeddings[a], some.users.embeddings[b])
        np.testing.assert_array_equal(everyone.users.barrier(a), some.users.barrier(b))
        np.testing.assert_array_equal(
            everyone.users.non_decision_time(a), some.users.non_decision_time(b)
        )
    np.testing.assert_array_equal(everyone.users.projection, some.users.projection)
    # Users differ from one another, and the same call gives the same users bitwise.
    assert np.unique(everyone.users.barriers).size == IDS.size
    assert np.unique(everyone.users.embeddings[:, 0]).size == IDS.size
    again = draw_users_for_ids(config, IDS, dim=6, barrier=1.5, non_decision_time=0.2)
    for name in ("embeddings", "projection", "barriers", "non_decision_times"):
        np.testing.assert_array_equal(getattr(again.users, name), getattr(everyone.users, name))
    # Another seed, other users.
    other = draw_users_for_ids(_users(seed=6), IDS, dim=6, barrier=1.5, non_decision_time=0.2)
    assert not np.array_equal(other.users.embeddings, everyone.users.embeddings)
    with pytest.raises(DataError, match="user_id 4 "):
        everyone.rows(np.array([3, 4]))


def test_zero_spreads_give_everyone_the_global_barrier_and_t0_and_keep_the_tastes():
    spread = draw_users_for_ids(_users(), IDS, dim=4, barrier=1.5, non_decision_time=0.2)
    flat = draw_users_for_ids(
        _users(barrier_spread=0.0, non_decision_spread=0.0),
        IDS,
        dim=4,
        barrier=1.5,
        non_decision_time=0.2,
    )
    rows = flat.rows(IDS)
    assert (flat.users.barrier(rows) == 1.5).all()
    assert (flat.users.non_decision_time(rows) == 0.2).all()
    np.testing.assert_array_equal(flat.users.embeddings, spread.users.embeddings)
    with pytest.raises(ValueError, match="non_decision_time"):
        draw_users_for_ids(_users(), IDS, dim=4, barrier=1.5, non_decision_time=0.0)


# --- labels: user deltas on top of the scorer's rewards ---------------------------------------


def _rewards_and_features(tmp_path: Path, rows: int = 600, dim: int = 5, drop: int | None = None):
    rng = np.random.default_rng(1)
    pair_index = np.arange(rows) * 3 + 2  # sparse, as after dropped ties
    user_id = IDS[rng.integers(0, IDS.size, rows)]
    rewards = pa.table(
        {
            # Shuffled: enhance sorts by pair_index.
            "pair_index": pair_index[::-1],
            "reward_1": 4.0 * rng.standard_normal(rows)[::-1],
            "reward_2": 4.0 * rng.standard_normal(rows)[::-1],
            "user_id": user_id[::-1],
        }
    )
    x1 = rng.standard_normal((rows, dim)).astype(np.float32)
    x2 = rng.standard_normal((rows, dim)).astype(np.float32)
    keep = np.ones(rows, bool) if drop is None else pair_index != drop
    paths = []
    # Two shards, as the workflow's embed step writes them.
    for shard, part in enumerate(np.array_split(np.flatnonzero(keep), 2)):
        path = tmp_path / f"features-{shard}.parquet"
        features = pa.table(
            {
                "pair_index": pair_index[part],
                "x1": features_to_arrow(x1[part]),
                "x2": features_to_arrow(x2[part]),
            }
        )
        pq.write_table(features, path)
        paths.append(path)
    return rewards, paths, {"pair_index": pair_index, "user_id": user_id, "x1": x1, "x2": x2}


def test_labels_use_each_users_own_reward_barrier_and_t0_on_top_of_the_scaled_rewards(tmp_path):
    rewards, paths, truth = _rewards_and_features(tmp_path)
    config = _users()
    labels = simulate_labels(
        rewards,
        barrier=1.5,
        seed=3,
        reward_diff_std=1.0,
        non_decision_time=0.2,
        users=config,
        feature_paths=paths,
    )
    assert labels.column("pair_index").to_numpy().tolist() == truth["pair_index"].tolist()
    raw_1 = labels.column("raw_reward_1").to_numpy()
    raw_2 = labels.column("raw_reward_2").to_numpy()
    scale = 1.0 / np.std(raw_1 - raw_2)
    # The users as drawn for these ids, their deltas computed from the full features.
    drawn = draw_users_for_ids(config, truth["user_id"], 5, 1.5, 0.2)
    rows = drawn.rows(truth["user_id"])
    delta_1 = drawn.users.delta(truth["x1"].astype(np.float64), rows)
    delta_2 = drawn.users.delta(truth["x2"].astype(np.float64), rows)
    assert np.std(delta_1 - delta_2) > 0.1  # the deltas matter
    reward_1 = labels.column("reward_1").to_numpy()
    reward_2 = labels.column("reward_2").to_numpy()
    np.testing.assert_allclose(reward_1, scale * raw_1 + delta_1, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        reward_1 - reward_2, scale * (raw_1 - raw_2) + delta_1 - delta_2, rtol=1e-9, atol=1e-9
    )
    np.testing.assert_array_equal(labels.column("user_id").to_numpy(), truth["user_id"])
    np.testing.assert_array_equal(
        labels.column("user_barrier").to_numpy(), drawn.users.barrier(rows)
    )
    # Choices and times are the DDM's with the user's drift, barrier and t0.
    choice, time = ddm.simulate(
        reward_1 - reward_2,
        drawn.users.barrier(rows),
        np.random.default_rng(3),
        non_decision_time=drawn.users.non_decision_time(rows),
    )
    np.testing.assert_array_equal(labels.column("choice").to_numpy(), choice)
    np.testing.assert_allclose(labels.column("response_time").to_numpy(), time)
    # Each user's times start at their own t0.
    for user in IDS:
        mine = truth["user_id"] == user
        t0 = drawn.users.non_decision_time(drawn.rows(np.array([user])))[0]
        assert labels.column("response_time").to_numpy()[mine].min() > t0


def test_users_who_differ_in_nothing_leave_the_labels_as_they_were(tmp_path):
    rewards, paths, _ = _rewards_and_features(tmp_path)
    plain = simulate_labels(rewards, barrier=1.5, seed=3, reward_diff_std=1.0)
    control = simulate_labels(
        rewards,
        barrier=1.5,
        seed=3,
        reward_diff_std=1.0,
        users=UsersConfig(enabled=True),
        feature_paths=paths,
    )
    assert control.equals(plain)
    # ... which are the DDM's draws for the scaled rewards, one barrier for everyone.
    diff = plain.column("reward_1").to_numpy() - plain.column("reward_2").to_numpy()
    choice, time = ddm.simulate(diff, 1.5, np.random.default_rng(3))
    np.testing.assert_array_equal(plain.column("choice").to_numpy(), choice)
    np.testing.assert_array_equal(plain.column("response_time").to_numpy(), time)


def test_a_pair_without_features_or_without_a_user_is_an_error_naming_it(tmp_path):
    rewards, paths, truth = _rewards_and_features(tmp_path, drop=302)
    with pytest.raises(DataError, match="no features.*first pair_index 302"):
        simulate_labels(
            rewards, 1.5, 3, 1.0, users=_users(), feature_paths=paths, non_decision_time=0.2
        )
    with pytest.raises(DataError, match="user_id"):
        simulate_labels(
            rewards.drop_columns(["user_id"]),
            1.5,
            3,
            1.0,
            users=_users(),
            feature_paths=paths,
            non_decision_time=0.2,
        )
    # Without a delta no features are read: a barrier spread alone needs none.
    labels = simulate_labels(
        rewards, 1.5, 3, 1.0, users=_users(delta_scale=0.0, non_decision_spread=0.0)
    )
    assert np.unique(labels.column("user_barrier").to_numpy()).size == IDS.size


# --- the split by user ------------------------------------------------------------------------


def _heavy_tailed_users(pairs: int, users: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = rng.choice(2**40, size=users, replace=False).astype(np.int64) - 2**39
    weights = np.exp(1.2 * rng.standard_normal(users))
    return ids[rng.choice(users, size=pairs, p=weights / weights.sum())]


def test_unseen_users_give_all_their_pairs_to_the_test_set_and_seen_users_keep_one():
    user_id = _heavy_tailed_users(3000, 150)
    is_test, unseen = draw_user_split(user_id, 400, 1, 0.25, 7, Path("labels"))
    is_unseen = np.isin(user_id, unseen)
    assert is_test[is_unseen].all()
    assert 0 < unseen.size < np.unique(user_id).size
    assert int((is_test & ~is_unseen).sum()) == 400
    seen_users = np.setdiff1d(np.unique(user_id), unseen)
    assert set(user_id[~is_test]) == set(seen_users)  # every seen user keeps a training pair
    # Seeded: the same call, the same split; another split seed moves seen pairs only.
    again_test, again_unseen = draw_user_split(user_id, 400, 1, 0.25, 7, Path("labels"))
    np.testing.assert_array_equal(again_test, is_test)
    np.testing.assert_array_equal(again_unseen, unseen)
    other_test, other_unseen = draw_user_split(user_id, 400, 2, 0.25, 7, Path("labels"))
    np.testing.assert_array_equal(other_unseen, unseen)
    assert not np.array_equal(other_test, is_test)
    with pytest.raises(DataError, match="test_size=5000 seen-user test pairs"):
        draw_user_split(user_id, 5000, 1, 0.25, 7, Path("labels"))


def test_whether_a_user_is_unseen_depends_on_their_id_not_on_the_other_users():
    ids = np.unique(_heavy_tailed_users(5000, 400))
    unseen = unseen_user_ids(ids, 0.3, seed=4)
    assert 0.15 < unseen.size / ids.size < 0.45
    half = ids[::2]
    np.testing.assert_array_equal(unseen_user_ids(half, 0.3, seed=4), np.intersect1d(unseen, half))
    assert not np.array_equal(unseen_user_ids(ids, 0.3, seed=5), unseen)
    assert unseen_user_ids(ids, 0.0, seed=4).size == 0


def _write_labels_and_features(tmp_path: Path, user_id: np.ndarray) -> tuple[Path, Path]:
    rows = user_id.size
    rng = np.random.default_rng(0)
    pair_index = np.arange(rows)
    labels = pa.table(
        {
            "pair_index": pair_index,
            "reward_1": rng.standard_normal(rows),
            "reward_2": rng.standard_normal(rows),
            "choice": np.where(rng.random(rows) < 0.5, 1, -1).astype(np.int8),
            "response_time": 1.0 + rng.random(rows),
            "user_id": user_id,
        }
    )
    features = pa.table(
        {
            "pair_index": pair_index,
            "x1": features_to_arrow(rng.standard_normal((rows, 3)).astype(np.float32)),
            "x2": features_to_arrow(rng.standard_normal((rows, 3)).astype(np.float32)),
        }
    )
    pq.write_table(labels, tmp_path / "labels.parquet")
    pq.write_table(features, tmp_path / "features.parquet")
    return tmp_path / "labels.parquet", tmp_path / "features.parquet"


def test_chunks_split_by_user_and_record_the_unseen_users(tmp_path):
    user_id = _heavy_tailed_users(300, 20, seed=2)
    labels, features = _write_labels_and_features(tmp_path, user_id)
    counts = write_split_chunks(
        labels,
        [features],
        tmp_path / "train",
        tmp_path / "test",
        test_size=30,
        split_seed=0,
        rows_per_chunk=64,
        user_split={"unseen_fraction": 0.3, "seed": 1},
    )
    record = json.loads((tmp_path / "test" / USER_SPLIT_FILE).read_text())
    unseen = np.array(record["unseen_users"], np.int64)
    train, test = load_pairs(tmp_path / "train"), load_pairs(tmp_path / "test")
    assert unseen.size > 0 and not np.isin(train.user_id, unseen).any()
    assert np.isin(test.user_id, unseen).sum() == np.isin(user_id, unseen).sum()
    assert counts["test_rows"] == len(test) == record["unseen_pairs"] + 30
    assert counts["train_rows"] == len(train) == 300 - len(test)
    # Without users in the labels, or with no unseen share, the split is by pair as before.
    write_split_chunks(
        labels, [features], tmp_path / "t0", tmp_path / "s0", 30, 0, 64, {"unseen_fraction": 0.0}
    )
    write_split_chunks(labels, [features], tmp_path / "t1", tmp_path / "s1", 30, 0, 64)
    np.testing.assert_array_equal(
        load_pairs(tmp_path / "s0").pair_index, load_pairs(tmp_path / "s1").pair_index
    )
    assert not (tmp_path / "s0" / USER_SPLIT_FILE).exists()


# --- seen / unseen metrics ------------------------------------------------------------------


def test_user_metrics_split_the_test_pairs_by_whether_the_run_saw_the_user():
    rng = np.random.default_rng(0)
    rows = 50
    pairs = Pairs(
        pair_index=np.arange(rows),
        x1=np.zeros((rows, 2), np.float32),
        x2=np.zeros((rows, 2), np.float32),
        reward_1=rng.standard_normal(rows),
        reward_2=rng.standard_normal(rows),
        choice=np.where(rng.random(rows) < 0.5, 1, -1).astype(np.int8),
        response_time=np.ones(rows),
        user_id=rng.integers(0, 6, rows),
    )
    predicted = rng.standard_normal(rows)
    metrics = user_group_metrics(predicted, pairs, np.array([0, 1, 2, 2]))
    seen = pairs.user_id <= 2
    for group, mask in (("seen", seen), ("unseen", ~seen)):
        expected = evaluate(
            predicted[mask], pairs.choice[mask], pairs.reward_1[mask], pairs.reward_2[mask]
        )
        assert metrics[f"{group}_mse"] == pytest.approx(expected["mse"])
        assert metrics[f"{group}_accuracy"] == pytest.approx(expected["accuracy"])
        assert metrics[f"{group}_pairs"] == int(mask.sum())
    assert metrics["seen_users"] == 3 and metrics["unseen_users"] == 3
    assert set(metrics) == set(USER_METRICS)
    # Every user seen: the unseen metrics are null, not made up.
    everyone = user_group_metrics(predicted, pairs, np.arange(6))
    assert everyone["unseen_pairs"] == 0 and everyone["unseen_mse"] is None


def test_summary_takes_user_metrics_as_optional_columns(tmp_path):
    base = {"accuracy": 0.6, "accuracy_true": 0.7, "mse": 1.0, "policy_value": 0.1, "regret": 0.2}
    paths = []
    for algorithm, extra in (
        ("log_loss", {}),
        ("log_loss_personalized", {"seen_mse": 0.5, "unseen_mse": None, "seen_pairs": 3}),
    ):
        path = tmp_path / "runs" / algorithm / "n10" / "seed0" / "metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"algorithm": algorithm, "n": 10, "seed": 0, **base, **extra}))
        paths.append(path)
    summary = collect(paths)
    assert summary["seen_mse"].to_list() == [None, 0.5]
    paths[1].write_text(paths[1].read_text().replace("0.5", "NaN"))
    with pytest.raises(DataError, match="seen_mse"):
        collect(paths)


# --- through Snakemake ----------------------------------------------------------------------

ROWS = 48
USER_IDS = [-5, 17, 2**40 + 3, 99, 123456, 8]


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pickapic_users_assets")
    save_tiny_transformers_clip(root / "pickscore", root / "processor")
    save_tiny_open_clip(root / "open_clip")
    rows = pickapic_rows(ROWS, set(), set(), seed=0)
    for row, record in enumerate(rows):  # few users with many pairs each
        record["user_id"] = USER_IDS[row % len(USER_IDS)]
    save_pickapic_parquet(root / "dataset", rows, "train", files=2)
    return {"root": root}


@pytest.mark.workflow
def test_pickapic_with_simulated_users_reports_seen_and_unseen_metrics(
    workflow, assets: dict[str, Path], tmp_path: Path
) -> None:
    root = assets["root"]
    config = load_test_config("tiny_pickapic_users")
    config["pickapic"] |= {
        "local_path": str(root / "dataset"),
        "scorer": {"model": str(root / "pickscore"), "processor": str(root / "processor")},
        "embedder": {"model": f"local-dir:{root / 'open_clip'}", "pretrained": None},
    }
    path = workflow.write_config(config)
    workflow.run(
        "results/tinypickusers/summary.parquet",
        "--cores",
        "2",
        "--resources",
        "gpu=2",
        "--configfile",
        str(path),
        env={**NO_HUB, **without_slurm_probe(tmp_path)},
    )
    results = workflow.root / "results" / "tinypickusers"
    # The labels are each user's own: rewards beyond the scaled PickScore, per-user barriers.
    enhanced = pq.read_table(results / "enhanced" / "train.parquet")
    raw_diff = (
        enhanced.column("raw_reward_1").to_numpy() - enhanced.column("raw_reward_2").to_numpy()
    )
    diff = enhanced.column("reward_1").to_numpy() - enhanced.column("reward_2").to_numpy()
    assert not np.allclose(diff, raw_diff / np.std(raw_diff), atol=1e-3)
    assert np.unique(enhanced.column("user_barrier").to_numpy()).size == len(USER_IDS)
    # Unseen users are absent from training and all in the test chunks.
    split = json.loads((results / "chunks" / "test" / USER_SPLIT_FILE).read_text())
    unseen = np.array(split["unseen_users"], np.int64)
    assert unseen.size > 0
    train = load_pairs(results / "chunks" / "train")
    test = load_pairs(results / "chunks" / "test")
    assert not np.isin(train.user_id, unseen).any()
    assert np.isin(test.user_id, unseen).sum() == split["unseen_pairs"] > 0
    summary = pl.read_parquet(results / "summary.parquet")
    assert sorted(summary["algorithm"].to_list()) == ["log_loss", "log_loss_personalized"]
    for name in ("seen_mse", "unseen_mse", "seen_accuracy", "unseen_accuracy"):
        assert summary[name].is_finite().all(), name
    assert (summary["unseen_pairs"] >= split["unseen_pairs"]).all()
    assert (summary["seen_pairs"] + summary["unseen_pairs"] == summary["test_rows"]).all()


@pytest.mark.workflow
def test_reference_config_with_users_plans_the_personalized_runs_offline(
    workflow, tmp_path: Path
) -> None:
    algorithms = "[log_loss, orthogonal, log_loss_personalized, orthogonal_personalized]"
    result = workflow.run(
        "-n",
        "-p",
        "--configfile",
        str(REPO / "config" / "pickapic.yaml"),
        "--config",
        "users={enabled: true}",
        f"algorithms={algorithms}",
        env={"HF_HUB_OFFLINE": "1", **without_slurm_probe(tmp_path)},
        timeout=300,
    )
    jobs = planned_jobs(result.stdout)
    assert jobs["train"] == 5 * 4 * 4 and jobs["enhance"] == jobs["chunks"] == 1
    # The example's deltas read the features: enhance waits for the embeddings.
    enhance = result.stdout.split("rule enhance:")[1].split("output:")[0]
    assert "embeddings/train/shard-0.parquet" in enhance
    assert "raw/train/shard-1.parquet" in enhance


@pytest.mark.workflow
def test_a_t0_spread_without_a_t0_stops_the_plan_naming_the_keys(workflow, tmp_path: Path) -> None:
    result = workflow.run(
        "-n",
        "--configfile",
        str(REPO / "config" / "pickapic.yaml"),
        "--config",
        "users={enabled: true, non_decision_spread: 0.2}",
        env={"HF_HUB_OFFLINE": "1", **without_slurm_probe(tmp_path)},
        check=False,
        timeout=300,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr  # Snakemake prints parse errors to either
    assert "users.non_decision_spread=0.2" in output
    assert "set ddm.non_decision_time > 0" in output
