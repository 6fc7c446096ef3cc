"""Non-decision time in the simulator, and estimation of the barrier a and t0 from (Y, T)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from rtpref import calibration, ddm
from rtpref.evaluation import best_of_k_groups, regret_at_k


@pytest.mark.parametrize(("drift", "barrier"), [(0.0, 1.0), (0.7, 1.5), (-3.0, 0.5), (6.0, 2.0)])
def test_time_density_integrates_to_one_with_the_closed_form_mean(drift, barrier) -> None:
    def density(t: float) -> float:
        return float(np.exp(calibration.log_time_density([t], [drift], barrier))[0])

    total = integrate.quad(density, 0, np.inf, limit=200)[0]
    mean = integrate.quad(lambda t: t * density(t), 0, np.inf, limit=200)[0]
    assert total == pytest.approx(1.0, abs=1e-9)
    assert mean == pytest.approx(float(ddm.mean_time(drift, barrier)), rel=1e-7)


def test_non_decision_time_shifts_times_and_zero_changes_nothing() -> None:
    drift = np.random.default_rng(0).standard_normal(1000)
    choice, time = ddm.simulate(drift, 1.2, 3)
    same_choice, same_time = ddm.simulate(drift, 1.2, 3, non_decision_time=0.0)
    shifted_choice, shifted = ddm.simulate(drift, 1.2, 3, non_decision_time=0.3)
    assert np.array_equal(time, same_time) and np.array_equal(choice, same_choice)
    assert np.array_equal(choice, shifted_choice)
    assert np.array_equal(shifted, time + 0.3)
    with pytest.raises(ValueError, match="non_decision_time"):
        ddm.simulate(drift, 1.0, 0, non_decision_time=-0.1)


def test_barrier_and_t0_are_recovered_given_the_drifts() -> None:
    drift = 2.0 * np.random.default_rng(1).standard_normal(3000)
    choice, time = ddm.simulate(drift, 1.5, 2, non_decision_time=0.3)
    barrier, t0, _ = calibration.refine(drift, choice, time)
    assert barrier == pytest.approx(1.5, rel=0.05)
    assert t0 == pytest.approx(0.3, rel=0.05)


def test_calibration_with_a_reward_network() -> None:
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((2, 2000, 2)).astype(np.float32)
    weights = np.array([1.5, -1.0])
    choice, time = ddm.simulate((x1 - x2) @ weights, 1.5, 4, non_decision_time=0.3)
    settings = calibration.CalibrationSettings(hidden=(16,), epochs=10, bootstrap=5)
    result = calibration.calibrate(x1, x2, choice, time, settings)
    assert result.barrier == pytest.approx(1.5, rel=0.1)
    assert result.non_decision_time == pytest.approx(0.3, rel=0.1)
    low, high = result.barrier_interval
    assert low <= result.barrier <= high


def test_best_of_k_regret() -> None:
    reward = np.random.default_rng(0).standard_normal(40)
    groups = best_of_k_groups(40, 4, seed=0)
    assert len(groups) == 10 and len(np.unique(np.concatenate(groups))) == 40
    assert regret_at_k(reward, reward, groups) == 0.0
    worst = regret_at_k(reward, -reward, groups)
    assert worst == pytest.approx(np.mean([np.ptp(reward[g]) for g in groups]))
    prompts = np.repeat(np.arange(5), 8)[::-1]
    for group in best_of_k_groups(40, 4, seed=1, prompts=prompts):
        assert len(set(prompts[group])) == 1
    again = best_of_k_groups(40, 4, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(groups, again, strict=True))


def test_test_pairs_get_their_prompts(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rtpref.data import DataError
    from rtpref.evaluation import prompts_of_pairs

    path = tmp_path / "prompts.parquet"
    pq.write_table(pa.table({"pair_index": [5, 1, 9], "prompt": ["fox", "car", "moon"]}), path)
    assert prompts_of_pairs(path, np.array([9, 5])).tolist() == ["moon", "fox"]
    assert prompts_of_pairs(None, np.array([9])) is None
    with pytest.raises(DataError, match="no prompt for test pair_index 4"):
        prompts_of_pairs(path, np.array([1, 4]))
