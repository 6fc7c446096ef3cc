"""Personalized reward models saved with their users: per-user scoring after a round trip,
refusal of corrupt user files, and `rtpref score` with user ids."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file
from test_users import TINY_TRAINING, _pairs_with_users

from rtpref import ddm
from rtpref.chunks import features_to_arrow, load_pairs
from rtpref.cli import main
from rtpref.data import Pairs
from rtpref.learners import make_learner
from rtpref.learners.networks import RewardNet
from rtpref.reward_model import USERS_NAME, ModelFileError, RewardModel
from rtpref.run import run_training
from rtpref.split import write_split_chunks

VARIANTS = {
    "log_loss_personalized": dict(TINY_TRAINING),
    # Batch norm and dropout in h: the saved h must be used in eval mode, as the learner does.
    "orthogonal_personalized": {
        **TINY_TRAINING,
        "batch_norm": True,
        "dropout": 0.1,
        "per_user_barrier": True,
    },
}


def _taste_pairs() -> Pairs:
    """``_pairs_with_users`` with users who disagree on feature 1, so that deltas pay."""
    pairs = _pairs_with_users(rows=300)
    sign = np.where(pairs.user_id % 2 == 0, 1.0, -1.0)
    reward_1 = pairs.x1[:, 0] + 2.0 * sign * pairs.x1[:, 1]
    reward_2 = pairs.x2[:, 0] + 2.0 * sign * pairs.x2[:, 1]
    choice, time = ddm.simulate(reward_1 - reward_2, 1.0, np.random.default_rng(1))
    return dataclasses.replace(
        pairs,
        reward_1=reward_1,
        reward_2=reward_2,
        choice=choice,
        response_time=time,
    )


def _fit(algorithm: str):
    pairs = _taste_pairs()
    learner = make_learner(algorithm, VARIANTS[algorithm], barrier=1.0, seed=0).fit(pairs)
    # The tests below mean something only if the deltas were kept (not "epoch 0").
    assert learner.reward_net_.embeddings.weight[1:].abs().sum() > 0
    return learner, pairs


def _model(learner, algorithm: str) -> RewardModel:
    return RewardModel.from_net(
        learner.base_reward_net(), algorithm, barrier=1.0, users=learner.user_part()
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory):
    learner, pairs = _fit("log_loss_personalized")
    directory = tmp_path_factory.mktemp("personalized") / "model"
    _model(learner, "log_loss_personalized").save_pretrained(directory)
    return learner, pairs, directory


@pytest.mark.parametrize("algorithm", sorted(VARIANTS))
def test_round_trip_reproduces_the_learners_per_user_predictions(tmp_path, algorithm):
    learner, pairs = _fit(algorithm)
    _model(learner, algorithm).save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json",
        "model.safetensors",
        USERS_NAME,
    ]
    loaded = RewardModel.from_pretrained(tmp_path / "model")
    assert loaded.has_users
    np.testing.assert_array_equal(loaded.user_ids, learner.users_)
    described = loaded.config["users"]
    assert described["count"] == learner.users_.size
    assert described["rank"] == VARIANTS[algorithm]["user_rank"]
    assert described["batch_norm"] == VARIANTS[algorithm].get("batch_norm", False)

    # Seen users, and users never trained on (ids absent from the model), mixed in one call.
    x1, x2 = pairs.x1, pairs.x2
    users = pairs.user_id.copy()
    users[::7] = 99
    users[1::11] = -3
    expected = learner.predict_diff(x1, x2, users)
    np.testing.assert_array_equal(loaded.predict_diff(x1, x2, users), expected)
    np.testing.assert_array_equal(
        loaded.predict_reward(x1, users), learner.predict_reward(x1, users)
    )
    np.testing.assert_allclose(loaded.predict_diff(x2, x1, users), -expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(loaded.predict_diff(x1, x2, users), expected)  # reproducible

    base = learner.predict_diff(x1, x2)
    np.testing.assert_array_equal(loaded.predict_diff(x1, x2), base)
    unseen = (users == 99) | (users == -3)
    np.testing.assert_array_equal(loaded.predict_diff(x1, x2, users)[unseen], base[unseen])
    # Seen users get their own reward, not g0.
    assert not np.allclose(expected[~unseen], base[~unseen])


def test_a_global_model_ignores_user_ids():
    torch.manual_seed(0)
    model = RewardModel.from_net(RewardNet(3, (4,), 0.0, True), "log_loss", barrier=1.0)
    x1, x2 = np.random.default_rng(0).standard_normal((2, 30, 3)).astype(np.float32)
    users = np.arange(30) % 3
    assert not model.has_users and model.user_ids is None and "users" not in model.config
    np.testing.assert_array_equal(model.predict_diff(x1, x2, users), model.predict_diff(x1, x2))
    np.testing.assert_array_equal(model.predict_reward(x1, users), model.predict_reward(x1))
    with pytest.raises(ValueError, match="one id per row"):
        model.predict_diff(x1, x2, users[:5])


def test_user_ids_must_be_integers(saved):
    learner, pairs, directory = saved
    model = RewardModel.from_pretrained(directory)
    with pytest.raises(ValueError, match="integers"):
        model.predict_diff(pairs.x1, pairs.x2, pairs.user_id.astype(float))


def _corrupt_copy(saved, tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    shutil.copytree(saved[2], directory)
    return directory


def _rewrite_users(directory: Path, change) -> None:
    state = load_file(str(directory / USERS_NAME))
    change(state)
    save_file(state, str(directory / USERS_NAME))


def _load_fails(directory: Path, *fragments: str) -> str:
    with pytest.raises(ModelFileError) as error:
        RewardModel.from_pretrained(directory)
    message = str(error.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_users_file_is_refused(saved, tmp_path):
    directory = _corrupt_copy(saved, tmp_path)
    (directory / USERS_NAME).unlink()
    _load_fails(directory, USERS_NAME, "config.json")


def test_users_that_do_not_match_the_config_are_refused(saved, tmp_path):
    directory = _corrupt_copy(saved, tmp_path)
    config = json.loads((directory / "config.json").read_text())
    config["users"]["rank"] += 1
    (directory / "config.json").write_text(json.dumps(config))
    _load_fails(directory, str(directory / USERS_NAME), "config.json", "embeddings")

    directory = _corrupt_copy(saved, tmp_path / "rows")
    _rewrite_users(
        directory,
        lambda state: state.update(embeddings=torch.cat([state["embeddings"]] * 2)),
    )
    _load_fails(directory, str(directory / USERS_NAME), "embeddings")


@pytest.mark.parametrize(
    ("order", "what"), [([0, 0, 2, 3], "duplicate"), ([1, 0, 2, 3], "unsorted")]
)
def test_duplicate_or_unsorted_user_ids_are_refused(saved, tmp_path, order, what):
    directory = _corrupt_copy(saved, tmp_path)
    assert saved[0].users_.tolist() == [0, 1, 2, 3]
    _rewrite_users(directory, lambda state: state.update(user_ids=torch.tensor(order)))
    _load_fails(directory, str(directory / USERS_NAME), what)


def test_a_non_zero_unseen_row_is_refused(saved, tmp_path):
    directory = _corrupt_copy(saved, tmp_path)

    def change(state):
        state["embeddings"][0] = 0.5

    _rewrite_users(directory, change)
    _load_fails(directory, str(directory / USERS_NAME), "row 0")


def test_a_pickle_users_file_is_refused(saved, tmp_path):
    directory = _corrupt_copy(saved, tmp_path)
    torch.save({"user_ids": torch.arange(4)}, directory / USERS_NAME)
    _load_fails(directory, str(directory / USERS_NAME), "not a safetensors file")


# -- rtpref score with user ids -----------------------------------------------------------


@pytest.fixture(scope="module")
def user_chunks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Train/test chunks of 4 users who disagree on feature 1."""
    root = tmp_path_factory.mktemp("user_chunks")
    rows = 400
    rng = np.random.default_rng(5)
    x1, x2 = rng.standard_normal((2, rows, 3)).astype(np.float32)
    user_id = np.arange(rows) % 4
    sign = np.where(user_id % 2 == 0, 1.0, -1.0)
    reward_1 = x1[:, 0] + 1.5 * sign * x1[:, 1]
    reward_2 = x2[:, 0] + 1.5 * sign * x2[:, 1]
    choice, time = ddm.simulate(reward_1 - reward_2, 1.0, rng)
    pq.write_table(
        pa.table(
            {
                "pair_index": np.arange(rows),
                "reward_1": reward_1,
                "reward_2": reward_2,
                "choice": choice,
                "response_time": time,
                "user_id": user_id,
            }
        ),
        root / "labels.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "pair_index": np.arange(rows),
                "x1": features_to_arrow(x1),
                "x2": features_to_arrow(x2),
            }
        ),
        root / "features.parquet",
    )
    train, test = root / "train", root / "test"
    write_split_chunks(root / "labels.parquet", [root / "features.parquet"], train, test, 80, 0, 64)
    return train, test


def _score(model_dir: Path, pairs: Path, out: Path, *extra: str):
    arguments = ["score", "--model", str(model_dir), "--pairs", str(pairs), "--out", str(out)]
    return CliRunner().invoke(main, [*arguments, *extra])


def test_score_with_user_ids_reproduces_a_personalized_runs_test_mse(user_chunks, tmp_path):
    train, test = user_chunks
    model_dir = tmp_path / "model"
    metrics = run_training(
        train, test, "log_loss_personalized", 320, 0, TINY_TRAINING, 1.0, model_dir=model_dir
    )
    assert (model_dir / USERS_NAME).is_file()
    model = RewardModel.from_pretrained(model_dir)
    test_pairs = load_pairs(test)

    out = tmp_path / "scored.parquet"
    result = _score(model_dir, test, out)  # the user_id column is used by default
    assert result.exit_code == 0, result.output
    scored = pq.read_table(out)
    diff = scored.column("predicted_diff").to_numpy()
    true_diff = scored.column("reward_1").to_numpy() - scored.column("reward_2").to_numpy()
    assert float(np.mean((diff - true_diff) ** 2)) == metrics["mse"]
    users = scored.column("user_id").to_numpy()
    x1 = np.stack(scored.column("x1").to_numpy(zero_copy_only=False)).astype(np.float32)
    x2 = np.stack(scored.column("x2").to_numpy(zero_copy_only=False)).astype(np.float32)
    np.testing.assert_array_equal(diff, model.predict_diff(x1, x2, users))
    # Output unchanged otherwise: the input columns plus the two scores.
    first_chunk = pq.read_table(sorted(test.glob("*.parquet"))[0])
    assert scored.column_names == [*first_chunk.column_names, "predicted_diff", "prob_first"]
    assert "their user's reward" in result.output

    # The column named explicitly gives the same; '' scores every pair with g0.
    explicit = tmp_path / "explicit.parquet"
    assert _score(model_dir, test, explicit, "--user-column", "user_id").exit_code == 0
    np.testing.assert_array_equal(pq.read_table(explicit).column("predicted_diff"), diff)
    population = tmp_path / "population.parquet"
    assert _score(model_dir, test, population, "--user-column", "").exit_code == 0
    base = pq.read_table(population).column("predicted_diff").to_numpy()
    np.testing.assert_array_equal(base, model.predict_diff(x1, x2))
    assert not np.allclose(base, diff)
    assert len(test_pairs) == scored.num_rows


def test_score_refuses_a_missing_user_naming_the_row(user_chunks, saved, tmp_path):
    _, test = user_chunks
    table = pq.read_table(sorted(test.glob("*.parquet"))[0])
    users = table.column("user_id").to_pylist()
    users[3] = None
    column = table.column_names.index("user_id")
    broken = tmp_path / "pairs.parquet"
    pq.write_table(table.set_column(column, "user_id", pa.array(users, pa.int64())), broken)
    out = tmp_path / "scored.parquet"
    result = _score(saved[2], broken, out)
    assert result.exit_code == 2, result.output
    assert "row 3" in result.output and "'user_id'" in result.output
    assert str(broken) in result.output
    assert not out.exists()
    other = _score(saved[2], broken, out, "--user-column", "rater")
    assert other.exit_code == 2 and "'rater'" in other.output


def test_score_with_a_global_model_ignores_user_ids(user_chunks, tmp_path):
    _, test = user_chunks
    torch.manual_seed(0)
    model = RewardModel.from_net(RewardNet(3, (4,), 0.0, False), "log_loss", barrier=1.0)
    model.save_pretrained(tmp_path / "model")
    outputs = {}
    for name, extra in (("default", ()), ("explicit", ("--user-column", "user_id"))):
        outputs[name] = tmp_path / f"{name}.parquet"
        result = _score(tmp_path / "model", test, outputs[name], *extra)
        assert result.exit_code == 0, result.output
    default = pq.read_table(outputs["default"])
    assert "has no users" in result.output
    assert default.equals(pq.read_table(outputs["explicit"]))
    test_pairs = load_pairs(test)
    order = np.argsort(test_pairs.pair_index)
    scored_order = np.argsort(default.column("pair_index").to_numpy())
    np.testing.assert_array_equal(
        default.column("predicted_diff").to_numpy()[scored_order],
        model.predict_diff(test_pairs.x1, test_pairs.x2)[order],
    )
