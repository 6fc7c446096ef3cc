"""Estimate the DDM barrier a and non-decision time t0 from recorded choices and response times.

Measured response times are t0 + T, with T the first-passage time of dX = v dt + dW from 0 to
+-a and v = r(x1) - r(x2) unknown per pair. Given v, the pair (Y, T) has the exact density

    p(Y, T | v, a) = exp(a v Y - v^2 T / 2) f0(T; a) / 2,

where f0 is the zero-drift first-passage density (Girsanov: the drift only reweights paths by
exp(v X_T - v^2 T / 2), and X_T = a Y). This yields P(Y = +1) = sigmoid(2 a v) and the
independence of T and Y given v. Unlike the choices alone, which identify only the product a v,
the times identify a, v and t0 separately.

The estimate maximises the joint log-likelihood of (Y, T - t0) over (a, t0) and a small reward
network g with v = g(x1) - g(x2) (stage 1), then refines (a, t0) by an exact two-parameter
maximisation with the network held fixed. The 95 % intervals come from a row bootstrap of that
refinement; they are conditional on the fitted network (they leave out its estimation error).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from rtpref.learners.networks import RewardNet

log = logging.getLogger(__name__)

# Terms of each series for f0; both converge geometrically on their side of the switch point.
SERIES_TERMS = 8
# Switch between the small-time (image) and large-time (eigenfunction) series of f0 at
# u = t / a^2 = 2 / pi, where the two converge at the same rate.
SWITCH = 2.0 / math.pi
# t0 is kept below the smallest response time by this fraction of it: at T = t0 the density
# vanishes, so the likelihood never pulls t0 all the way there.
T0_MARGIN = 1e-6


def _log_f0_unit(u: torch.Tensor) -> torch.Tensor:
    """log of the zero-drift first-passage density from 0 to +-1 at time u > 0."""
    odd = torch.arange(SERIES_TERMS, dtype=u.dtype, device=u.device) * 2 + 1
    signs = (-1.0) ** torch.arange(SERIES_TERMS, dtype=u.dtype, device=u.device)
    small_u = torch.clamp(u, max=SWITCH)
    large_u = torch.clamp(u, min=SWITCH)
    # Small times, method of images: 2 sum (-1)^k (2k+1) exp(-(2k+1)^2 / 2u) / sqrt(2 pi u^3),
    # with the leading exp(-1 / 2u) taken out of the sum so that tiny u does not underflow.
    small_terms = signs * odd * torch.exp(-(odd**2 - 1) / (2 * small_u[..., None]))
    log_small = (
        math.log(2.0)
        - 0.5 * torch.log(2 * math.pi * small_u**3)
        - 1 / (2 * small_u)
        + torch.log(small_terms.sum(-1))
    )
    # Large times, eigenfunctions: (pi / 2) sum (-1)^n (2n+1) exp(-(2n+1)^2 pi^2 u / 8).
    rate = math.pi**2 / 8
    large_terms = signs * odd * torch.exp(-(odd**2 - 1) * rate * large_u[..., None])
    log_large = math.log(math.pi / 2) - rate * large_u + torch.log(large_terms.sum(-1))
    return torch.where(u < SWITCH, log_small, log_large)


def _log_cosh(x: torch.Tensor) -> torch.Tensor:
    magnitude = x.abs()
    return magnitude + torch.log1p(torch.exp(-2 * magnitude)) - math.log(2.0)


def log_time_density_torch(
    decision_time: torch.Tensor, drift: torch.Tensor, barrier: torch.Tensor | float
) -> torch.Tensor:
    """log f(T | v, a): density of the first-passage time to either barrier (choice summed)."""
    barrier = torch.as_tensor(barrier, dtype=decision_time.dtype, device=decision_time.device)
    u = decision_time / barrier**2
    return (
        _log_cosh(barrier * drift)
        - drift**2 * decision_time / 2
        + _log_f0_unit(u)
        - 2 * torch.log(barrier)
    )


def log_time_density(
    decision_time: ArrayLike, drift: ArrayLike, barrier: float
) -> NDArray[np.float64]:
    """log f(T | v, a) for T > 0 (-inf where T <= 0), as float64 numpy."""
    time = torch.as_tensor(np.asarray(decision_time, dtype=np.float64))
    drift_tensor = torch.as_tensor(np.asarray(drift, dtype=np.float64))
    positive = time > 0
    safe = torch.where(positive, time, torch.ones_like(time))
    values = log_time_density_torch(safe, drift_tensor, float(barrier))
    return torch.where(positive, values, torch.full_like(values, -math.inf)).numpy()


def log_joint_density_torch(
    choice: torch.Tensor,
    decision_time: torch.Tensor,
    drift_mean: torch.Tensor,
    barrier: torch.Tensor,
    drift_sd: torch.Tensor,
) -> torch.Tensor:
    """log p(Y, T | a) with the drift v ~ N(drift_mean, drift_sd^2) integrated out.

    p(Y, T | v) = exp(a v Y - v^2 T / 2) f0(T; a) / 2 is Gaussian in v, so the integral is
    closed-form: (1 + s^2 T)^(-1/2) exp((a^2 s^2 + 2 a Y m - m^2 T) / (2 (1 + s^2 T))) with
    m = drift_mean and s = drift_sd; s = 0 gives back the density at v = m.
    """
    spread = drift_sd**2 * decision_time
    return (
        _log_f0_unit(decision_time / barrier**2)
        - 2 * torch.log(barrier)
        - math.log(2.0)
        - 0.5 * torch.log1p(spread)
        + (
            barrier**2 * drift_sd**2
            + 2 * barrier * choice * drift_mean
            - drift_mean**2 * decision_time
        )
        / (2 * (1 + spread))
    )


def _log_choice_prob_torch(choice: torch.Tensor, drift: torch.Tensor, barrier) -> torch.Tensor:
    return -torch.nn.functional.softplus(-2 * barrier * choice * drift)


def log_choice_prob(choice: ArrayLike, drift: ArrayLike, barrier: float) -> NDArray[np.float64]:
    """log P(Y | v, a) = log sigmoid(2 a v Y) for choices Y in {-1, +1}."""
    values = 2.0 * barrier * np.asarray(choice, np.float64) * np.asarray(drift, np.float64)
    return -np.logaddexp(0.0, -values)


@dataclasses.dataclass(frozen=True)
class CalibrationSettings:
    hidden: tuple[int, ...] = (64, 64)
    epochs: int = 30
    learning_rate: float = 1e-2
    batch_size: int = 512
    bootstrap: int = 200
    seed: int = 0

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> CalibrationSettings:
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**converted)


@dataclasses.dataclass(frozen=True)
class Calibration:
    barrier: float
    non_decision_time: float
    barrier_interval: tuple[float, float] | None
    non_decision_time_interval: tuple[float, float] | None
    rows: int
    log_likelihood: float
    method: str = "joint DDM maximum likelihood, row bootstrap"

    def as_dict(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        for key in ("barrier_interval", "non_decision_time_interval"):
            record[key] = list(record[key]) if record[key] is not None else None
        return record


def _joint_fit(
    x1: NDArray[np.float32],
    x2: NDArray[np.float32],
    choice: NDArray,
    response_time: NDArray,
    settings: CalibrationSettings,
) -> NDArray[np.float64]:
    """Stage 1: Adam on the joint likelihood over g, a, t0 (kept in (0, min T)) and the drift
    spread; returns the fitted drifts g(x1) - g(x2) of every pair."""
    torch.manual_seed(settings.seed)
    net = RewardNet(x1.shape[1], settings.hidden, 0.0, False)
    first, second = torch.tensor(x1), torch.tensor(x2)
    choices = torch.tensor(np.asarray(choice, np.float32))
    times = torch.tensor(np.asarray(response_time, np.float32))
    scalars = _Scalars(float(times.min()), torch.float32)
    optimizer = torch.optim.Adam(
        [*net.parameters(), *scalars.parameters()], lr=settings.learning_rate
    )
    generator = torch.Generator().manual_seed(settings.seed)
    rows = len(times)
    for epoch in range(settings.epochs):
        order = torch.randperm(rows, generator=generator)
        total = 0.0
        for start in range(0, rows, settings.batch_size):
            batch = order[start : start + settings.batch_size]
            drift = net.pair_diff(first[batch], second[batch])
            barrier, t0, spread = scalars.values()
            loss = -log_joint_density_torch(
                choices[batch], times[batch] - t0, drift, barrier, spread
            ).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        barrier, t0, spread = (value.item() for value in scalars.values())
        log.info(
            "calibration epoch %d/%d: -loglik/row %.5f, a %.4f, t0 %.4f, drift sd %.4f",
            epoch + 1,
            settings.epochs,
            total / rows,
            barrier,
            t0,
            spread,
        )
    with torch.no_grad():
        return net.eval().pair_diff(first, second).double().numpy()


class _Scalars(torch.nn.Module):
    """a = exp(.), t0 = ceiling * sigmoid(.) below the smallest time, drift sd = exp(.)."""

    def __init__(self, smallest_time: float, dtype: torch.dtype) -> None:
        super().__init__()
        self.ceiling = smallest_time * (1 - T0_MARGIN)
        self.log_barrier = torch.nn.Parameter(torch.zeros((), dtype=dtype))
        self.t0_logit = torch.nn.Parameter(torch.zeros((), dtype=dtype))
        self.log_spread = torch.nn.Parameter(torch.full((), -1.0, dtype=dtype))
        self.log_scale = torch.nn.Parameter(torch.zeros((), dtype=dtype))

    def values(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            self.log_barrier.exp(),
            self.ceiling * torch.sigmoid(self.t0_logit),
            self.log_spread.exp(),
        )


def refine(drift: NDArray, choice: NDArray, response_time: NDArray) -> tuple[float, float, float]:
    """(a, t0) maximising the exact likelihood with v ~ N(k g, s^2) around the fitted drifts g:
    the scale k and spread s absorb stage 1's shrinkage and error. Returns (a, t0, loglik)."""
    drift_t = torch.from_numpy(np.asarray(drift, np.float64))
    choice_t = torch.from_numpy(np.asarray(choice, np.float64))
    time_t = torch.from_numpy(np.asarray(response_time, np.float64))
    scalars = _Scalars(float(time_t.min()), torch.float64)
    parameters = list(scalars.parameters())

    def negative(flat: NDArray) -> tuple[float, NDArray]:
        with torch.no_grad():
            for parameter, value in zip(parameters, flat, strict=True):
                parameter.fill_(float(value))
        scalars.zero_grad()
        barrier, t0, spread = scalars.values()
        mean = scalars.log_scale.exp() * drift_t
        total = -log_joint_density_torch(choice_t, time_t - t0, mean, barrier, spread).sum()
        total.backward()
        return total.item(), np.array([parameter.grad.item() for parameter in parameters])

    start = np.array([parameter.item() for parameter in parameters])
    result = optimize.minimize(negative, start, jac=True, method="L-BFGS-B")
    negative(result.x)
    barrier, t0, _ = (value.item() for value in scalars.values())
    return barrier, t0, -float(result.fun)


def calibrate(
    x1: NDArray[np.float32],
    x2: NDArray[np.float32],
    choice: NDArray,
    response_time: NDArray,
    settings: CalibrationSettings | None = None,
) -> Calibration:
    """Maximum-likelihood a and t0 (seconds) with 95 % row-bootstrap intervals."""
    settings = settings or CalibrationSettings()
    times = np.asarray(response_time, np.float64)
    choices = np.asarray(choice, np.float64)
    if times.size < 10 or not np.all(np.isfinite(times)) or times.min() <= 0:
        raise ValueError("calibration needs at least 10 finite, positive response times")
    drift = _joint_fit(x1, x2, choices, times, settings)
    barrier, t0, loglik = refine(drift, choices, times)
    log.info("calibration: a = %.5f, t0 = %.5f s (loglik %.3f)", barrier, t0, loglik)
    barrier_interval = t0_interval = None
    if settings.bootstrap:
        rng = np.random.default_rng([settings.seed, 1])
        draws = []
        for _ in range(settings.bootstrap):
            rows = rng.integers(0, times.size, times.size)
            draws.append(refine(drift[rows], choices[rows], times[rows])[:2])
        low, high = np.percentile(np.asarray(draws), [2.5, 97.5], axis=0)
        barrier_interval = (float(low[0]), float(high[0]))
        t0_interval = (float(low[1]), float(high[1]))
        log.info("95%% intervals: a %s, t0 %s", barrier_interval, t0_interval)
    return Calibration(barrier, t0, barrier_interval, t0_interval, int(times.size), loglik)


AUTO = "auto"


def resolve_ddm(
    ddm: dict[str, Any], calibration_file: str | Path | None = None
) -> tuple[float, float, dict[str, Any] | None]:
    """(barrier, non-decision time, calibration record) for training.

    Values set to ``auto`` come from the calibration output; a value given as a number is
    used as it is (the calibration then estimated it too, but that estimate is not used).
    """
    barrier, t0 = ddm["barrier"], ddm.get("non_decision_time", 0.0)
    if AUTO not in (barrier, t0):
        return float(barrier), float(t0), None
    if calibration_file is None:
        raise ValueError("ddm.barrier or ddm.non_decision_time is auto but no calibration ran")
    record = json.loads(Path(calibration_file).read_text())
    return (
        float(record["barrier"] if barrier == AUTO else barrier),
        float(record["non_decision_time"] if t0 == AUTO else t0),
        record,
    )
