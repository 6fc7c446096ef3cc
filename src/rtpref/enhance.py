"""The enhance stage: per-pair rewards -> simulated choices and response times (the EZ model).

:func:`read_rewards` reads the reward files of a source, :func:`simulate_labels` scales the
rewards and draws a (choice, response_time) per pair from the drift-diffusion model with drift
reward_1 - reward_2, and :func:`check_choice_sign` guards against a sign flip.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy import stats

from rtpref import ddm
from rtpref.data import DataError, check_finite, read_parquet, require_columns
from rtpref.labels import check_labels
from rtpref.users import UsersConfig, draw_users_for_ids, simulate_user_labels, simulates_users

log = logging.getLogger(__name__)

REWARD_COLUMNS = ("pair_index", "reward_1", "reward_2")


def read_rewards(paths: Sequence[str | Path]) -> pa.Table:
    """The reward files of a source (one per shard, or one) as a single table."""
    tables = [read_parquet(path, REWARD_COLUMNS) for path in paths]
    return pa.concat_tables(tables, promote_options="default")


class SignCheckError(RuntimeError):
    """Simulated choices do not follow the reward difference: a sign flip, or no signal."""


# Two-sided p-value below which corr(choice, r1 - r2) counts as clearly positive or negative.
SIGN_CHECK_LEVEL = 1e-3


# Median |P(choice = +1) - 1/2| below which simulated choices count as coin flips.
NO_SIGNAL_LEAN = 0.05


def _median_lean(drift: np.ndarray, barrier: float) -> float:
    return float(np.median(np.abs(ddm.choice_prob(drift, barrier) - 0.5)))


def _no_signal_reason(drift: np.ndarray, barrier: float | None) -> str:
    """Why choices are noise: how far P(choice = +1) = sigmoid(2 a v) strays from 1/2."""
    spread = f"std(r1 - r2) = {np.std(drift):.3g}"
    if barrier is None:
        return f"{spread}; raise the reward scale or ddm.barrier"
    lean = _median_lean(drift, barrier)
    return (
        f"with barrier a = {barrier:g} and {spread}, P(choice = +1) = sigmoid(2 a (r1 - r2)) "
        f"is within {lean:.2g} of 1/2 for half of the pairs; raise ddm.barrier or the reward "
        "scale (ddm.reward_diff_std / ddm.reward_scale)"
    )


def check_choice_sign(
    choice: np.ndarray, drift: np.ndarray, source: str, barrier: float | None = None
) -> float:
    """corr(choice, drift) must be clearly > 0; a flip would turn every learner into an
    anti-learner, and choices that carry no signal would train nothing.

    "Clearly" is a test of zero correlation at SIGN_CHECK_LEVEL: a clearly negative correlation
    is a flip; one that cannot be told from zero means the data carry no signal (a barrier or
    reward scale so small that every choice is a coin flip), not that choices are flipped.
    """
    if np.std(choice) == 0 or np.std(drift) == 0:
        raise SignCheckError(
            f"{source}: choices or reward differences are constant; "
            "cannot check that choices follow rewards"
        )
    test = stats.pearsonr(choice.astype(np.float64), drift)
    correlation, p_value = float(test.statistic), float(test.pvalue)
    if correlation > 0 and p_value < SIGN_CHECK_LEVEL:
        return correlation
    if correlation < 0 and p_value < SIGN_CHECK_LEVEL:
        raise SignCheckError(
            f"{source}: corr(choice, r1 - r2) = {correlation:.4f} <= 0; "
            "choices are flipped relative to rewards"
        )
    if barrier is not None and _median_lean(drift, barrier) >= NO_SIGNAL_LEAN:
        # The model says choices lean clearly toward the better item; only the sample is too
        # small to confirm the sign, so go on and say so.
        log.warning(
            "%s: corr(choice, r1 - r2) = %.4f over %d pairs cannot be told from 0 (p = %.2g); "
            "too few pairs to confirm that choices follow rewards",
            source,
            correlation,
            len(drift),
            p_value,
        )
        return correlation
    raise SignCheckError(
        f"{source}: corr(choice, r1 - r2) = {correlation:.4f} over {len(drift)} pairs cannot be "
        f"told from 0 (p = {p_value:.2g}): the choices carry no signal about the rewards; "
        + _no_signal_reason(drift, barrier)
    )


def simulate_labels(
    rewards: pa.Table,
    barrier: float,
    seed: int,
    reward_diff_std: float | None = None,
    reward_scale: float = 1.0,
    source: str = "rewards",
    non_decision_time: float = 0.0,
    users: UsersConfig | None = None,
    feature_paths: Sequence[str | Path] = (),
) -> pa.Table:
    """Scale rewards, simulate (choice, response_time) with drift = reward_1 - reward_2.

    ``reward_diff_std`` (if given) rescales rewards so that r1 - r2 has that standard deviation;
    otherwise rewards are multiplied by ``reward_scale``. The scaled rewards are the ground
    truth the learners are scored against. ``non_decision_time`` t0 is added to every
    response time (t0 = 0 leaves the decision times as they are).

    With ``users`` that differ (:func:`rtpref.users.simulates_users`), each pair is simulated
    with its real user's reward r_u(x) = r(x) + s <e_u, P phi(x)> (r the scaled reward,
    phi(x) the item's features from ``feature_paths``, needed when ``delta_scale`` > 0), barrier
    a_u and non-decision time t0_u (:func:`rtpref.users.draw_users_for_ids`); reward_1 and
    reward_2 are then the user's own rewards.
    """
    require_columns(source, rewards.column_names, REWARD_COLUMNS)
    if rewards.num_rows == 0:
        raise DataError(f"{source}: zero rows")
    rewards = rewards.sort_by("pair_index")
    pair_index = rewards.column("pair_index").to_numpy()
    duplicated = np.flatnonzero(np.diff(pair_index) == 0)
    if duplicated.size:
        raise DataError(f"{source}: duplicate pair_index {int(pair_index[duplicated[0]])}")
    raw_1 = rewards.column("reward_1").to_numpy().astype(np.float64)
    raw_2 = rewards.column("reward_2").to_numpy().astype(np.float64)
    check_finite("reward_1", raw_1, pair_index, source)
    check_finite("reward_2", raw_2, pair_index, source)
    if reward_diff_std is not None:
        spread = float(np.std(raw_1 - raw_2))
        if spread == 0:
            raise DataError(f"{source}: all reward differences are equal; cannot scale them")
        scale = reward_diff_std / spread
    else:
        scale = reward_scale
    reward_1, reward_2 = scale * raw_1, scale * raw_2
    user_columns = {}
    if users is not None and simulates_users(users):
        simulated = _simulate_users(
            rewards, reward_1, reward_2, users, feature_paths, barrier, non_decision_time, seed
        )
        reward_1, reward_2 = simulated.pop("reward_1"), simulated.pop("reward_2")
        choice, response_time = simulated.pop("choice"), simulated.pop("response_time")
        user_columns = simulated
    else:
        choice, response_time = ddm.simulate(
            reward_1 - reward_2,
            barrier,
            np.random.default_rng(seed),
            non_decision_time=non_decision_time,
        )
    drift = reward_1 - reward_2
    check_labels(
        choice,
        response_time,
        pair_index,
        f"labels simulated from {source}",
        advice="check the rewards and the ddm settings",
    )
    correlation = check_choice_sign(choice, drift, source, barrier)
    log.info(
        "%d pairs, reward scale %.6g, std(r1 - r2) %.4f, corr(choice, r1 - r2) %.4f, mean T %.4f",
        len(drift),
        scale,
        np.std(drift),
        correlation,
        response_time.mean(),
    )
    # Users (where the source has them) travel with their pairs to the chunks.
    users = {"user_id": rewards.column("user_id")} if "user_id" in rewards.column_names else {}
    return pa.table(
        {
            "pair_index": pair_index,
            "reward_1": reward_1,
            "reward_2": reward_2,
            "raw_reward_1": raw_1,
            "raw_reward_2": raw_2,
            "choice": choice,
            "response_time": response_time,
            **users,
            **user_columns,
        }
    )


def _simulate_users(
    rewards: pa.Table,
    reward_1: np.ndarray,
    reward_2: np.ndarray,
    config: UsersConfig,
    feature_paths: Sequence[str | Path],
    barrier: float,
    non_decision_time: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """Choices and times of each pair's own simulated user (``rewards`` sorted by pair_index,
    with ``user_id``): the user's rewards, labels, and their barrier and t0 (kept as the
    columns user_barrier and user_non_decision_time of the labels, for inspection)."""
    if "user_id" not in rewards.column_names:
        raise DataError(
            "simulated users (users.delta_scale, barrier_spread or non_decision_spread > 0) "
            "need each pair's user_id; turn users on with a source that records users"
        )
    user_id = rewards.column("user_id").to_numpy().astype(np.int64)
    pair_index = rewards.column("pair_index").to_numpy()
    if config.delta_scale > 0:
        if not feature_paths:
            raise DataError(
                f"users.delta_scale={config.delta_scale} needs the pairs' features; none given"
            )
        dim = feature_dim(feature_paths[0])
    else:
        dim = 1
    drawn = draw_users_for_ids(config, user_id, dim, barrier, non_decision_time)
    rows = drawn.rows(user_id)
    population = drawn.users
    if config.delta_scale > 0:
        # The deltas read only P phi(x) (k numbers per item): project the features while they
        # stream by, and let the users project those with the identity.
        x1, x2 = projected_features(feature_paths, population.projection, pair_index)
        population = dataclasses.replace(population, projection=np.eye(config.rank))
    else:
        x1 = x2 = np.zeros((len(pair_index), 1))
    labels = simulate_user_labels(reward_1, reward_2, x1, x2, rows, population, seed)
    labels.pop("user_id")  # rows of the population; the real ids are the table's
    log.info(
        "%d simulated users: delta_scale %g (std of the delta difference %.4f), barriers "
        "%.3g..%.3g, t0 %.3g..%.3g",
        drawn.ids.size,
        config.delta_scale,
        float(np.std(labels["reward_1"] - labels["reward_2"] - (reward_1 - reward_2))),
        float(population.barriers.min()),
        float(population.barriers.max()),
        float(population.non_decision_times.min()),
        float(population.non_decision_times.max()),
    )
    return {
        **labels,
        "user_barrier": population.barrier(rows),
        "user_non_decision_time": population.non_decision_time(rows),
    }


def feature_dim(path: str | Path) -> int:
    """The feature width D of a features file (x1: FixedSizeList[D])."""
    from rtpref.chunks import FEATURE_COLUMNS
    from rtpref.data import open_parquet

    field = open_parquet(path, ["pair_index", *FEATURE_COLUMNS]).schema_arrow.field("x1")
    if not pa.types.is_fixed_size_list(field.type):
        raise DataError(f"{path}: column 'x1' is {field.type}, expected fixed_size_list")
    return int(field.type.list_size)


def projected_features(
    feature_paths: Sequence[str | Path], projection: np.ndarray, pair_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(P phi(x1), P phi(x2)) per pair of the sorted ``pair_index``, streamed from the feature
    files (a pair with features but no rewards is an error, as in chunks; a pair with rewards
    but no features is an error naming it)."""
    from rtpref.chunks import features_to_numpy
    from rtpref.split import feature_batches, label_positions

    rank = projection.shape[0]
    out = (np.zeros((pair_index.size, rank)), np.zeros((pair_index.size, rank)))
    matched = np.zeros(pair_index.size, dtype=bool)
    for path, batch in feature_batches(list(feature_paths)):
        batch_index = batch.column("pair_index").to_numpy()
        positions = label_positions(pair_index, batch_index, path, Path("the rewards"))
        matched[positions] = True
        for target, name in zip(out, ("x1", "x2"), strict=True):
            features = features_to_numpy(batch.column(name), path).astype(np.float64)
            if features.shape[1] != projection.shape[1]:
                raise DataError(
                    f"{path}: features of width {features.shape[1]}, expected "
                    f"{projection.shape[1]}"
                )
            target[positions] = features @ projection.T
    if not matched.all():
        missing = np.flatnonzero(~matched)
        raise DataError(
            f"users.delta_scale > 0: {missing.size} pair(s) have rewards but no features in "
            f"{', '.join(map(str, feature_paths))}, first pair_index {int(pair_index[missing[0]])}"
        )
    return out
