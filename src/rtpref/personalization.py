"""The personalization experiment: global vs user-conditioned learners on simulated users.

One world per seed: synthetic pairs (``rtpref.sources.synthetic``), users drawn and assigned
(``rtpref.users``), choices and times simulated with each user's reward and barrier. The
users split into seen users (a share of their pairs held out for testing) and
``users.unseen_fraction`` unseen users (all their pairs are test pairs, none train). Each
learner is fitted once without users (the global baseline) and once personalized; per-user
test metrics compare both on seen users (the personalized model uses the user's embedding)
and unseen users (it falls back to its base g0).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from rtpref.chunks import features_to_numpy
from rtpref.data import DataError, Pairs
from rtpref.learners import make_learner
from rtpref.metrics import evaluate
from rtpref.sources.synthetic import make_pairs, world_config, world_seed
from rtpref.users import (
    SimulatedUsers,
    UsersConfig,
    assign_users,
    draw_users,
    simulate_user_labels,
)

log = logging.getLogger(__name__)

__all__ = [
    "VARIANTS",
    "per_user_metrics",
    "run_experiment_seed",
    "run_world",
    "simulate_world",
    "split_by_user",
    "variants",
]


def _take(pairs: Pairs, rows: np.ndarray) -> Pairs:
    return Pairs(
        **{
            field.name: None
            if getattr(pairs, field.name) is None
            else getattr(pairs, field.name)[rows]
            for field in dataclasses.fields(pairs)
        }
    )


def simulate_world(
    synthetic: dict[str, Any],
    users: UsersConfig,
    barrier: float,
    run_seed: int,
    non_decision_time: float = 0.0,
) -> tuple[Pairs, SimulatedUsers]:
    """All pairs of one world with their users' rewards and labels, and the users' truth
    (barriers and non-decision times indexed by user id)."""
    features, rewards = make_pairs(world_config(synthetic, run_seed))
    x1 = np.ascontiguousarray(features_to_numpy(features.column("x1")))
    x2 = np.ascontiguousarray(features_to_numpy(features.column("x2")))
    population = draw_users(users, x1.shape[1], barrier, run_seed, non_decision_time)
    user_id = assign_users(len(x1), users, run_seed)
    labels = simulate_user_labels(
        rewards.column("reward_1").to_numpy(),
        rewards.column("reward_2").to_numpy(),
        x1,
        x2,
        user_id,
        population,
        world_seed(users.seed, run_seed, "labels"),
    )
    pairs = Pairs(
        pair_index=features.column("pair_index").to_numpy(),
        x1=x1,
        x2=x2,
        **labels,
    )
    return pairs, population


def split_by_user(
    user_id: np.ndarray, unseen_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train rows, test rows of seen users, test rows of unseen users): a seeded
    ``unseen_fraction`` of the users give all their pairs to the test set; every other user
    gives a seeded ``test_fraction`` of their pairs (none if they have a single pair)."""
    rng = np.random.default_rng(seed)
    users = np.unique(user_id)
    unseen = rng.choice(users, size=int(round(unseen_fraction * users.size)), replace=False)
    is_unseen = np.isin(user_id, unseen)
    held_out = rng.random(user_id.size) < test_fraction
    # A seen user keeps at least one training pair, so "seen" means seen in training.
    first_row = np.unique(user_id, return_index=True)[1]
    held_out[first_row] = False
    train = np.flatnonzero(~is_unseen & ~held_out)
    return train, np.flatnonzero(~is_unseen & held_out), np.flatnonzero(is_unseen)


def per_user_metrics(
    predicted: np.ndarray, pairs: Pairs, train_users: np.ndarray, group: str
) -> dict[str, float]:
    """Test metrics of ``predicted`` on ``pairs`` against each pair's own user's reward
    difference, plus the mse averaged per user (each user counts once).

    ``group`` says which users ``pairs`` must hold: "seen" (all in ``train_users``) or
    "unseen" (none); a mix-up is an error, not a silent average over both kinds.
    """
    if pairs.user_id is None:
        raise DataError(f"per-user evaluation ({group}) needs a user_id column")
    seen = np.isin(pairs.user_id, train_users)
    if group == "seen" and not seen.all():
        missing = np.unique(pairs.user_id[~seen])
        raise DataError(
            f"{missing.size} user(s) asked for seen-user evaluation have no training pairs, "
            f"e.g. user {int(missing[0])}; evaluate them as unseen users"
        )
    if group == "unseen" and seen.any():
        raise DataError(f"user {int(pairs.user_id[seen][0])} is in training; not an unseen user")
    metrics = evaluate(predicted, pairs.choice, pairs.reward_1, pairs.reward_2)
    error = (predicted - pairs.reward_diff) ** 2
    users, inverse = np.unique(pairs.user_id, return_inverse=True)
    per_user = np.bincount(inverse, error) / np.bincount(inverse)
    return {**metrics, "mse_per_user": float(per_user.mean()), "users": int(users.size)}


VARIANTS = ("global", "personalized", "personalized_user_barriers", "personalized_user_ddm")


def variants(
    algorithm: str, per_user_non_decision: bool = False
) -> list[tuple[str, str, dict[str, Any]]]:
    """(variant, estimator name, training overrides) of one base learner: the global model,
    the personalized one with the global barrier, and (learners that read response times)
    the personalized one with per-user barriers and, with ``per_user_non_decision``, the one
    with per-user barriers and non-decision times."""
    out = [
        ("global", algorithm, {}),
        ("personalized", f"{algorithm}_personalized", {"per_user_barrier": False}),
    ]
    if algorithm != "log_loss":
        out.append(
            ("personalized_user_barriers", f"{algorithm}_personalized", {"per_user_barrier": True})
        )
        if per_user_non_decision:
            both = {"per_user_barrier": True, "per_user_non_decision": True}
            out.append(("personalized_user_ddm", f"{algorithm}_personalized", both))
    return out


def run_world(
    synthetic: dict[str, Any],
    users: UsersConfig,
    barrier: float,
    run_seed: int,
    algorithms: list[str],
    training: dict[str, Any],
    test_fraction: float = 0.2,
    non_decision_time: float = 0.0,
) -> list[dict[str, Any]]:
    """Fit every variant of each algorithm in the world of ``run_seed``; one record per fit.
    A non-decision time (``ddm.non_decision_time`` > 0, spread across users or not) adds the
    variant with per-user t0_u."""
    pairs, truth = simulate_world(synthetic, users, barrier, run_seed, non_decision_time)
    train_rows, seen_rows, unseen_rows = split_by_user(
        pairs.user_id,
        users.unseen_fraction,
        test_fraction,
        world_seed(users.seed, run_seed, "split"),
    )
    train = _take(pairs, train_rows)
    train_users = np.unique(train.user_id)
    pairs_per_user = np.bincount(train.user_id, minlength=users.count)
    tests = {"seen": _take(pairs, seen_rows), "unseen": _take(pairs, unseen_rows)}
    records = []
    for algorithm in algorithms:
        for variant, name, overrides in variants(algorithm, non_decision_time > 0):
            personalized = variant != "global"
            learner = make_learner(
                name,
                {**training, **overrides},
                barrier=barrier,
                non_decision_time=non_decision_time,
                seed=run_seed,
                label=f"{name} {variant}",
            )
            learner.fit(train if personalized else dataclasses.replace(train, user_id=None))
            record: dict[str, Any] = {
                "algorithm": algorithm,
                "variant": variant,
                "seed": run_seed,
                "train_rows": len(train),
                "train_users": int(train_users.size),
            }
            for group, test in tests.items():
                if len(test) == 0:
                    continue
                kwargs = {"user_id": test.user_id} if personalized else {}
                predicted = learner.predict_diff(test.x1, test.x2, **kwargs)
                for metric, value in per_user_metrics(predicted, test, train_users, group).items():
                    record[f"{group}_{metric}"] = value
                if group == "seen":
                    record["seen_user_errors"] = _user_errors(predicted, test, pairs_per_user)
            if hasattr(learner, "user_barriers_"):
                estimated = learner.barriers_by_user()
                ids = np.array(sorted(estimated))
                record["barrier_estimates"] = {
                    "user_id": ids.tolist(),
                    "estimate": [estimated[u] for u in ids],
                    "truth": truth.barriers[ids].tolist(),
                    "pairs": pairs_per_user[ids].tolist(),
                }
                if overrides.get("per_user_non_decision"):
                    t0 = learner.non_decision_times_by_user()
                    record["non_decision_estimates"] = {
                        "user_id": ids.tolist(),
                        "estimate": [t0[u] for u in ids],
                        "truth": truth.non_decision_time(ids).tolist(),
                        "pairs": pairs_per_user[ids].tolist(),
                    }
            log.info("%s %s seed %d: %s", algorithm, variant, run_seed, record.get("seen_mse"))
            records.append(record)
    return records


def _user_errors(predicted: np.ndarray, test: Pairs, pairs_per_user: np.ndarray) -> dict[str, list]:
    """Per seen user: training pairs and test mse (for the mse-vs-pairs-per-user figure)."""
    users, inverse = np.unique(test.user_id, return_inverse=True)
    error = (predicted - test.reward_diff) ** 2
    mse = np.bincount(inverse, error) / np.bincount(inverse)
    return {"train_pairs": pairs_per_user[users].tolist(), "mse": mse.tolist()}


def run_experiment_seed(
    synthetic: dict[str, Any],
    users: dict[str, Any],
    barrier: float,
    training: dict[str, Any],
    run_seed: int,
    non_decision_time: float = 0.0,
) -> list[dict[str, Any]]:
    """``run_world`` from the config blocks ``synthetic``, ``users``, ``ddm.barrier``,
    ``ddm.non_decision_time`` and ``training`` (the workflow's entry point)."""
    block = dict(users)
    algorithms = block.pop("algorithms", ["log_loss", "orthogonal"])
    test_fraction = block.pop("test_fraction", 0.2)
    config = UsersConfig.from_config(block)
    if not config.enabled:
        raise ValueError("users.enabled is false; the personalization experiment needs users")
    return run_world(
        synthetic,
        config,
        barrier,
        run_seed,
        list(algorithms),
        training,
        test_fraction,
        non_decision_time,
    )
