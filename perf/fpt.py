"""The analytic first-passage-time distribution of the symmetric DDM, for the accuracy rows.

Evidence starts at 0 and follows dX = v dt + dW (unit noise) until it leaves (-a, a). By
Girsanov, the density of the exit time T pooled over both barriers is
cosh(a v) exp(-v^2 t / 2) f0(t), with f0 the driftless density; T does not depend on which
barrier is hit. Two series give its CDF F(t) = P(T <= t):

- large time (eigenfunction expansion), terms decay like exp(-(2k+1)^2 pi^2 t / (8 a^2)):
  F(t) = 1 - cosh(a v) sum_k (-1)^k (2k+1) pi / (2 a^2) exp(-mu_k t) / mu_k,
  mu_k = (2k+1)^2 pi^2 / (8 a^2) + v^2 / 2;
- small time (method of images), terms decay like exp(-(2k+1)^2 a^2 / (2t)); with
  c_k = (2k+1) a and u = |v|, each image integrates to an inverse-Gaussian CDF:
  F(t) = 2 cosh(a v) sum_k (-1)^k [exp(-u c_k) Phi((u t - c_k)/sqrt t)
                                   + exp(u c_k) Phi(-(u t + c_k)/sqrt t)].

Each point uses the series that converges fast there (small time below t = a^2 * 2/pi, where
the two decay rates are equal); `terms` terms of either leave an error far below 1e-12.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_ndtr

# t / a^2 where exp(-pi^2 tau / 8) = exp(-1 / (2 tau)): the two series converge equally fast.
_CROSSOVER = 2.0 / np.pi


def _log_two_cosh(x: float) -> float:
    x = abs(x)
    return x + np.log1p(np.exp(-2.0 * x))


def cdf_large_time(t: NDArray, drift: float, barrier: float, terms: int = 20) -> NDArray:
    """F(t) by the eigenfunction series (fast for t >~ a^2)."""
    k = np.arange(terms)[:, None]
    rate = (2 * k + 1) ** 2 * np.pi**2 / (8 * barrier**2) + drift**2 / 2
    weight = (-1.0) ** k * (2 * k + 1) * np.pi / (2 * barrier**2) / rate
    log_cosh = _log_two_cosh(barrier * drift) - np.log(2.0)
    return 1.0 - np.sum(weight * np.exp(log_cosh - rate * t[None, :]), axis=0)


def cdf_small_time(t: NDArray, drift: float, barrier: float, terms: int = 20) -> NDArray:
    """F(t) by the method of images (fast for t <~ a^2); t must be > 0."""
    k = np.arange(terms)[:, None]
    level = (2 * k + 1) * barrier
    speed = abs(drift)
    root = np.sqrt(t)[None, :]
    log_scale = _log_two_cosh(barrier * drift)
    # Each product exp(+-u c) Phi(...) is formed in logs: exp(u c) alone overflows for large u c.
    below = np.exp(log_scale - speed * level + log_ndtr((speed * t - level) / root))
    above = np.exp(log_scale + speed * level + log_ndtr(-(speed * t + level) / root))
    return np.sum((-1.0) ** k * (below + above), axis=0)


def first_passage_cdf(time: ArrayLike, drift: float, barrier: float) -> NDArray[np.float64]:
    """P(T <= time) for the exit time T of dX = v dt + dW from (-a, a) started at 0."""
    if not barrier > 0:
        raise ValueError(f"barrier must be > 0, got {barrier!r}")
    t = np.atleast_1d(np.asarray(time, dtype=np.float64))
    result = np.zeros_like(t)
    small = (t > 0) & (t < _CROSSOVER * barrier**2)
    large = t >= _CROSSOVER * barrier**2
    result[small] = cdf_small_time(t[small], drift, barrier)
    result[large] = cdf_large_time(t[large], drift, barrier)
    return np.clip(result, 0.0, 1.0).reshape(np.shape(time))
