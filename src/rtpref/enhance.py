"""The enhance stage: per-pair rewards -> simulated choices and response times (the EZ model).

:func:`read_rewards` reads the reward files of a source, :func:`simulate_labels` scales the
rewards and draws a (choice, response_time) per pair from the drift-diffusion model with drift
reward_1 - reward_2, and :func:`check_choice_sign` guards against a sign flip.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy import stats

from rtpref import ddm
from rtpref.data import DataError, check_finite, read_parquet, require_columns
from rtpref.labels import check_labels

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
) -> pa.Table:
    """Scale rewards, simulate (choice, response_time) with drift = reward_1 - reward_2.

    ``reward_diff_std`` (if given) rescales rewards so that r1 - r2 has that standard deviation;
    otherwise rewards are multiplied by ``reward_scale``. The scaled rewards are the ground
    truth the learners are scored against. ``non_decision_time`` t0 is added to every
    response time (t0 = 0 leaves the decision times as they are).
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
    drift = reward_1 - reward_2
    choice, response_time = ddm.simulate(
        drift, barrier, np.random.default_rng(seed), non_decision_time=non_decision_time
    )
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
        }
    )
