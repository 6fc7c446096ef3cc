"""EZ drift-diffusion model: closed-form moments and an exact, vectorised sampler.

Evidence starts at 0 and follows dX = v dt + dW between absorbing barriers +-a. The choice is
+1 if the upper barrier is hit first, else -1; the response time is the hitting time.

With symmetric barriers the hitting time is independent of the choice given v, and has the
series representation T = sum_k E_k / lambda_k with E_k ~ Exp(1) i.i.d. and
lambda_k = (2k-1)^2 pi^2 / (8 a^2) + v^2 / 2. Because sum_k 1/lambda_k = E[T|v] and
sum_k 1/lambda_k^2 = Var[T|v] are known in closed form, the sampler draws the first few terms
exactly and replaces the remainder by a Gamma variable with the remainder's exact mean and
variance. There is no time step, hence no discretisation bias.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Below this |a v| the closed forms are evaluated by their Taylor series: the direct formulas
# divide two quantities that both vanish at v = 0.
_SERIES_CUTOFF = 1e-2
# Rows per block in the sampler, to bound the (rows, terms) scratch array.
_BLOCK_ROWS = 1 << 20


def _validated(drift: ArrayLike, barrier: ArrayLike) -> tuple[NDArray[np.float64], NDArray]:
    drift_array = np.asarray(drift, dtype=np.float64)
    barrier_array = np.asarray(barrier, dtype=np.float64)
    if not np.all(np.isfinite(drift_array)):
        bad = np.flatnonzero(~np.isfinite(drift_array.ravel()))
        raise ValueError(
            f"drift must be finite; {bad.size} non-finite value(s), first at flat index {bad[0]}"
        )
    if not np.all(np.isfinite(barrier_array)) or np.any(barrier_array <= 0):
        raise ValueError(f"barrier must be finite and > 0, got {barrier!r}")
    return drift_array, barrier_array


def _choice_prob(v: NDArray, a: NDArray) -> NDArray[np.float64]:
    # exp(-log(1 + exp(-z))) never overflows and keeps tiny probabilities accurate.
    return np.exp(-np.logaddexp(0.0, -2.0 * a * v))


def _mean_time(v: NDArray, a: NDArray) -> NDArray[np.float64]:
    x = a * v
    small = np.abs(x) < _SERIES_CUTOFF
    direct = a * np.tanh(x) / np.where(small, 1.0, v)
    x2 = x * x
    series = a * a * (1.0 - x2 / 3.0 + 2.0 * x2 * x2 / 15.0)
    return np.where(small, series, direct)


def _var_time(v: NDArray, a: NDArray) -> NDArray[np.float64]:
    x = a * v
    small = np.abs(x) < _SERIES_CUTOFF
    safe_x = np.where(small, 1.0, x)
    tanh = np.tanh(safe_x)
    # sech^2 = 1 - tanh^2; where tanh rounds to 1 the x sech^2 term is negligible anyway.
    direct = a**4 * (tanh - safe_x * (1.0 - tanh * tanh)) / safe_x**3
    x2 = x * x
    series = a**4 * (2.0 / 3.0 - 8.0 * x2 / 15.0 + 34.0 * x2 * x2 / 105.0)
    return np.where(small, series, direct)


def choice_prob(drift: ArrayLike, barrier: ArrayLike = 1.0) -> NDArray[np.float64]:
    """P(choice = +1 | drift) = sigmoid(2 a v): Bradley-Terry with scale 2a."""
    return _choice_prob(*_validated(drift, barrier))


def mean_choice(drift: ArrayLike, barrier: ArrayLike = 1.0) -> NDArray[np.float64]:
    """E[choice | drift] = tanh(a v)."""
    v, a = _validated(drift, barrier)
    return np.tanh(a * v)


def mean_time(drift: ArrayLike, barrier: ArrayLike = 1.0) -> NDArray[np.float64]:
    """E[T | v] = (a / v) tanh(a v), with E[T | 0] = a^2."""
    return _mean_time(*_validated(drift, barrier))


def var_time(drift: ArrayLike, barrier: ArrayLike = 1.0) -> NDArray[np.float64]:
    """Var[T | v] = a (tanh(a v) - a v sech^2(a v)) / v^3, with Var[T | 0] = 2 a^4 / 3."""
    return _var_time(*_validated(drift, barrier))


def _sample_block(
    v: NDArray, a: NDArray, rng: np.random.Generator, terms: int
) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    uniforms = rng.random(v.shape)
    choice = np.where(uniforms < _choice_prob(v, a), 1, -1).astype(np.int8)

    # lambda_k = (2k-1)^2 pi^2 / (8 a^2) + v^2 / 2, shape (rows, terms)
    k = np.arange(1, terms + 1, dtype=np.float64)
    base = (2.0 * k - 1.0) ** 2 * (np.pi**2 / 8.0)
    a_column = a[:, None] if a.ndim else a
    inverse_rates = 1.0 / (base / a_column**2 + (0.5 * v * v)[:, None])
    head = np.einsum("ij,ij->i", rng.standard_exponential(inverse_rates.shape), inverse_rates)
    tail_mean = _mean_time(v, a) - inverse_rates.sum(axis=1)
    tail_var = _var_time(v, a) - np.einsum("ij,ij->i", inverse_rates, inverse_rates)
    # Gamma(shape=m^2/s, scale=s/m) has mean m and variance s. Rounding can leave a
    # non-positive variance for extreme drifts; the tail is then its mean.
    tail_mean = np.maximum(tail_mean, 0.0)
    positive = (tail_var > 0.0) & (tail_mean > 0.0)
    safe_var = np.where(positive, tail_var, 1.0)
    safe_mean = np.where(positive, tail_mean, 1.0)
    gamma = rng.gamma(safe_mean * safe_mean / safe_var, safe_var / safe_mean)
    return choice, head + np.where(positive, gamma, tail_mean)


def simulate(
    drift: ArrayLike,
    barrier: ArrayLike = 1.0,
    rng: np.random.Generator | int | None = None,
    terms: int = 8,
    non_decision_time: ArrayLike = 0.0,
) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    """Draw (choice, response_time) for each drift; exact, no Euler stepping.

    ``non_decision_time`` t0 (seconds of encoding and motor time) is added to every decision
    time: measured response times are t0 + T. With t0 = 0 the times are the decision times.
    It is a scalar or one value per drift (a per-user t0, say).

    ``choice`` is int8 (+1 upper barrier / -1 lower), ``time`` float64, both shaped like
    ``drift``. ``rng`` is a numpy Generator or a seed; draws are made in fixed-size blocks, so
    the result depends only on the inputs and the generator's state.
    """
    v, a = _validated(drift, barrier)
    if terms < 1:
        raise ValueError(f"terms must be >= 1, got {terms}")
    t0 = np.asarray(non_decision_time, dtype=np.float64)
    if not (np.all(np.isfinite(t0)) and np.all(t0 >= 0)):
        raise ValueError(f"non_decision_time must be finite and >= 0, got {non_decision_time!r}")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    shape = np.broadcast_shapes(v.shape, a.shape)
    flat_v = np.broadcast_to(v, shape).ravel()
    # A scalar barrier stays a scalar: no per-row copy of it in the hot loop.
    flat_a = a if a.ndim == 0 else np.broadcast_to(a, shape).ravel()
    choice = np.empty(flat_v.shape, dtype=np.int8)
    time = np.empty(flat_v.shape, dtype=np.float64)
    for start in range(0, flat_v.size, _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        block_a = flat_a if flat_a.ndim == 0 else flat_a[block]
        choice[block], time[block] = _sample_block(flat_v[block], block_a, generator, terms)
    time = time.reshape(shape)
    if np.any(t0):
        time = time + t0
    return choice.reshape(shape), time
