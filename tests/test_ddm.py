"""The exact sampler and closed forms of the EZ drift-diffusion model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rtpref import ddm

DRIFTS = [-6.0, -1.3, -0.2, 0.0, 0.05, 0.7, 2.0, 9.0]
BARRIERS = [0.5, 1.0, 1.7]


def series_moments(drift: float, barrier: float, terms: int = 200_000) -> tuple[float, float]:
    """E[T] = sum 1/lambda_k and Var[T] = sum 1/lambda_k^2, summed directly (independent of the
    closed forms), with the tail of the mean's series added by its integral."""
    k = np.arange(1, terms + 1, dtype=np.float64)
    rates = (2 * k - 1) ** 2 * np.pi**2 / (8 * barrier**2) + drift**2 / 2
    # sum_{k > K} 1/lambda_k ~ integral of 8a^2 / (pi^2 (2k-1)^2) dk = 4a^2 / (pi^2 (2K))
    tail = 4 * barrier**2 / (np.pi**2 * 2 * terms)
    return float(np.sum(1 / rates) + tail), float(np.sum(1 / rates**2))


@pytest.mark.parametrize("barrier", BARRIERS)
@pytest.mark.parametrize("drift", DRIFTS)
def test_closed_forms_match_the_series(drift: float, barrier: float) -> None:
    mean, var = series_moments(drift, barrier)
    assert ddm.mean_time(drift, barrier) == pytest.approx(mean, rel=1e-6)
    assert ddm.var_time(drift, barrier) == pytest.approx(var, rel=1e-6)


def test_closed_forms_at_zero_and_extremes() -> None:
    for barrier in BARRIERS:
        assert ddm.mean_time(0.0, barrier) == pytest.approx(barrier**2, rel=1e-14)
        assert ddm.var_time(0.0, barrier) == pytest.approx(2 * barrier**4 / 3, rel=1e-14)
    # Continuity across the Taylor-series cut-off and no cancellation blow-up near zero.
    tiny = np.array([1e-12, 1e-6, 9.99e-3, 1.001e-2, 3e-2])
    for barrier in BARRIERS:
        for drift in tiny / barrier:
            mean, var = series_moments(drift, barrier)
            assert ddm.mean_time(drift, barrier) == pytest.approx(mean, rel=1e-6)
            assert ddm.var_time(drift, barrier) == pytest.approx(var, rel=1e-6)
    # |a v| = 50: finite, positive, and the large-drift asymptotes a/|v| and a/|v|^3.
    for drift, barrier in [(50.0, 1.0), (-50.0, 1.0), (25.0, 2.0)]:
        assert ddm.mean_time(drift, barrier) == pytest.approx(barrier / abs(drift), rel=1e-12)
        assert ddm.var_time(drift, barrier) == pytest.approx(barrier / abs(drift) ** 3, rel=1e-9)
    assert ddm.choice_prob(-50.0) > 0
    assert ddm.choice_prob(-50.0) == pytest.approx(np.exp(-100.0), rel=1e-12)
    assert ddm.choice_prob(50.0) == 1.0


@pytest.mark.parametrize("barrier", BARRIERS)
@pytest.mark.parametrize("drift", DRIFTS)
def test_sampler_moments_and_choice_probability(drift: float, barrier: float) -> None:
    rows = 200_000
    seed = int(1000 * barrier + 10 * abs(drift) + (drift < 0))
    choice, time = ddm.simulate(np.full(rows, drift), barrier, np.random.default_rng(seed))
    assert choice.dtype == np.int8 and time.dtype == np.float64
    assert set(np.unique(choice)) <= {-1, 1}
    assert np.all(time > 0)
    mean, var = ddm.mean_time(drift, barrier), ddm.var_time(drift, barrier)
    # z-scores against the closed forms; 5 sigma keeps the suite from flaking.
    assert abs(time.mean() - mean) / np.sqrt(var / rows) < 5
    fourth = np.mean((time - time.mean()) ** 4)
    assert abs(time.var() - var) / np.sqrt((fourth - var**2) / rows) < 5
    prob = ddm.choice_prob(drift, barrier)
    observed = np.mean(choice == 1)
    assert abs(observed - prob) <= 5 * np.sqrt(prob * (1 - prob) / rows) + 1e-12


@pytest.mark.parametrize("drift,barrier", [(0.0, 1.0), (0.8, 1.0), (-2.5, 0.7), (1.2, 1.6)])
def test_laplace_transform_matches_the_closed_form(drift: float, barrier: float) -> None:
    """E[exp(-sT)] = cosh(a v) / cosh(a sqrt(v^2 + 2 s)): the whole law, not just moments."""
    rows = 200_000
    _, time = ddm.simulate(np.full(rows, drift), barrier, np.random.default_rng(7))
    for s in (0.3, 1.0, 4.0, 15.0):
        samples = np.exp(-s * time)
        expected = np.cosh(barrier * drift) / np.cosh(barrier * np.sqrt(drift**2 + 2 * s))
        assert abs(samples.mean() - expected) < 5 * samples.std() / np.sqrt(rows)


def bridge_corrected_euler(drift: float, barrier: float, paths: int, dt: float,
                           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Fine-step reference: Euler over all paths at once, with the Brownian-bridge crossing
    probability between steps so discrete monitoring does not overshoot the barrier."""
    position = np.zeros(paths)
    time = np.full(paths, np.nan)
    choice = np.zeros(paths, dtype=np.int8)
    alive = np.arange(paths)
    t = 0.0
    while alive.size:
        step = drift * dt + np.sqrt(dt) * rng.standard_normal(alive.size)
        start, end = position[alive], position[alive] + step
        t += dt
        up_gap = np.maximum(barrier - start, 0) * np.maximum(barrier - end, 0)
        down_gap = np.maximum(barrier + start, 0) * np.maximum(barrier + end, 0)
        u = rng.random(alive.size)
        hit_up = (end >= barrier) | (u < np.exp(-2 * up_gap / dt))
        hit_down = ~hit_up & ((end <= -barrier) | (rng.random(alive.size)
                                                    < np.exp(-2 * down_gap / dt)))
        done = hit_up | hit_down
        time[alive[done]] = t - dt / 2
        choice[alive[hit_up]] = 1
        choice[alive[hit_down]] = -1
        position[alive] = end
        alive = alive[~done]
    return choice, time


@pytest.mark.parametrize("drift,barrier", [(0.0, 1.0), (1.5, 1.0), (-0.6, 0.8)])
def test_distribution_matches_fine_step_reference(drift: float, barrier: float) -> None:
    rng = np.random.default_rng(11)
    ref_choice, ref_time = bridge_corrected_euler(drift, barrier, 6000, 2e-4, rng)
    choice, time = ddm.simulate(np.full(6000, drift), barrier, rng)
    assert stats.ks_2samp(time, ref_time).pvalue > 1e-3
    table = [[np.sum(choice == 1), np.sum(choice == -1)],
             [np.sum(ref_choice == 1), np.sum(ref_choice == -1)]]
    if min(min(row) for row in table) > 0:
        assert stats.chi2_contingency(table).pvalue > 1e-3


@pytest.mark.parametrize("drift", [0.0, 0.9])
def test_time_is_independent_of_choice(drift: float) -> None:
    choice, time = ddm.simulate(np.full(100_000, drift), 1.0, np.random.default_rng(3))
    assert stats.ks_2samp(time[choice == 1], time[choice == -1]).pvalue > 1e-3
    assert abs(np.corrcoef(choice, time)[0, 1]) < 5 / np.sqrt(choice.size)


def test_seeded_shapes_and_broadcasting() -> None:
    drift = np.linspace(-2, 2, 12).reshape(3, 4)
    first = ddm.simulate(drift, 1.0, rng=5)
    second = ddm.simulate(drift, 1.0, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[0].shape == first[1].shape == (3, 4)
    different = ddm.simulate(drift, 1.0, rng=6)
    assert not np.array_equal(first[1], different[1])
    choice, time = ddm.simulate(np.zeros((2, 3)), np.array([0.5, 1.0, 2.0]), rng=1)
    assert choice.shape == time.shape == (2, 3)


@pytest.mark.parametrize(
    "drift,barrier,word",
    [([0.0, np.nan], 1.0, "drift"), ([np.inf], 1.0, "drift"), ([0.1], 0.0, "barrier"),
     ([0.1], -1.0, "barrier"), ([0.1], np.nan, "barrier")],
)
def test_invalid_input_is_named(drift, barrier, word) -> None:
    for function in (ddm.mean_time, ddm.var_time, ddm.choice_prob):
        with pytest.raises(ValueError, match=word):
            function(drift, barrier)
    with pytest.raises(ValueError, match=word):
        ddm.simulate(drift, barrier, rng=0)
