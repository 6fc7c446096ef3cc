"""The sign check tells flipped choices from choices that carry no signal at all."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from rtpref import ddm
from rtpref.enhance import SignCheckError, check_choice_sign, simulate_labels


def rewards(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "pair_index": np.arange(rows),
            "reward_1": rng.normal(size=rows),
            "reward_2": rng.normal(size=rows),
        }
    )


@pytest.mark.parametrize("seed", range(20))
def test_a_barrier_too_small_for_any_signal_is_called_no_signal_never_a_flip(seed: int) -> None:
    # With a = 1e-4, P(choice = +1) differs from 1/2 by ~1e-4: every choice is a coin flip,
    # and corr(choice, r1 - r2) is negative for about half of the seeds.
    with pytest.raises(SignCheckError) as error:
        simulate_labels(
            rewards(2000, seed), barrier=1e-4, seed=seed, reward_diff_std=1.0, source="r.parquet"
        )
    message = str(error.value)
    assert "flipped" not in message
    assert message.startswith("r.parquet: corr(choice, r1 - r2) = ")
    assert "the choices carry no signal about the rewards" in message
    assert "barrier a = 0.0001" in message and "raise ddm.barrier" in message


def test_flipped_choices_with_a_real_signal_are_still_called_flipped() -> None:
    rng = np.random.default_rng(0)
    drift = rng.normal(size=2000)
    choice, _ = ddm.simulate(drift, 1.0, rng)
    assert check_choice_sign(choice, drift, "x", 1.0) > 0
    with pytest.raises(SignCheckError, match="<= 0; choices are flipped relative to rewards"):
        check_choice_sign(-choice, drift, "pairs.parquet", 1.0)


def test_a_weak_but_clear_signal_passes() -> None:
    # a * std(r1 - r2) = 0.1: P(choice = +1) within ~0.07 of 1/2, yet 20,000 pairs show it.
    labels = simulate_labels(rewards(20_000, 1), barrier=0.1, seed=1, reward_diff_std=1.0)
    assert labels.num_rows == 20_000
