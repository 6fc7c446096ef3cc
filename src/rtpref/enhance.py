"""Turn per-pair rewards into simulated choices and response times (the EZ model)."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa

from rtpref import ddm
from rtpref.chunks import DataError, check_finite

log = logging.getLogger(__name__)

REWARD_COLUMNS = ("pair_index", "reward_1", "reward_2")


class SignCheckError(RuntimeError):
    """Simulated choices do not agree with the reward difference: a sign flip somewhere."""


def check_choice_sign(choice: np.ndarray, drift: np.ndarray, source: str) -> float:
    """corr(choice, drift) must be > 0; a flip would turn every learner into an anti-learner."""
    if np.std(choice) == 0 or np.std(drift) == 0:
        raise SignCheckError(
            f"{source}: choices or reward differences are constant; "
            "cannot check that choices follow rewards"
        )
    correlation = float(np.corrcoef(choice.astype(np.float64), drift)[0, 1])
    if not correlation > 0:
        raise SignCheckError(
            f"{source}: corr(choice, r1 - r2) = {correlation:.4f} <= 0; "
            "choices are flipped relative to rewards"
        )
    return correlation


def simulate_labels(
    rewards: pa.Table,
    barrier: float,
    seed: int,
    reward_diff_std: float | None = None,
    reward_scale: float = 1.0,
    source: str = "rewards",
) -> pa.Table:
    """Scale rewards, simulate (choice, response_time) with drift = reward_1 - reward_2.

    ``reward_diff_std`` (if given) rescales rewards so that r1 - r2 has that standard deviation;
    otherwise rewards are multiplied by ``reward_scale``. The scaled rewards are the ground
    truth the learners are scored against.
    """
    missing = [name for name in REWARD_COLUMNS if name not in rewards.column_names]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; has {rewards.column_names}")
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
    choice, response_time = ddm.simulate(drift, barrier, np.random.default_rng(seed))
    correlation = check_choice_sign(choice, drift, source)
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
