"""Simulated users who differ in taste (a reward delta) and in caution (a barrier).

A user u has the reward r_u(x) = r(x) + s <e_u, P phi(x)>, with e_u ~ N(0, I_k), a fixed
random projection P (k x D, entries N(0, 1/D)) shared by all users and phi(x) the item's
feature vector; s is ``delta_scale`` and k is ``rank``. Each user's barrier is
a_u = a exp(sigma z_u), z_u ~ N(0, 1), i.e. log-normal around the global barrier a with
``barrier_spread`` sigma, and likewise each user's non-decision time
t0_u = t0 exp(sigma' z'_u) with ``non_decision_spread`` sigma' around ``ddm.non_decision_time``.
Users where the data has none are drawn: ``count`` users with a
heavy-tailed (log-normal, ``pairs_sigma``) share of the pairs, every user with at least one
pair, as real annotators are: a few label a lot, most label a little.

Every draw comes from ``seed`` (and the run seed the caller passes in), so the same config gives
bitwise-identical users. With ``delta_scale: 0`` and ``barrier_spread: 0`` users change nothing
but the ``user_id`` column (the control experiment).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import ArrayLike, NDArray

from rtpref import ddm
from rtpref.data import DataError

__all__ = [
    "SimulatedUsers",
    "UsersConfig",
    "assign_users",
    "attach_user_ids",
    "draw_users",
    "embedding_rows",
    "estimate_barriers",
    "estimate_user_ddm",
    "positions_of",
    "shrink_toward",
    "simulate_user_labels",
]


@dataclasses.dataclass(frozen=True)
class UsersConfig:
    """The ``users`` config block (see ``config/schema.yaml`` for each key)."""

    enabled: bool = False
    count: int = 100
    pairs_sigma: float = 1.0
    delta_scale: float = 0.0
    rank: int = 4
    barrier_spread: float = 0.0
    non_decision_spread: float = 0.0
    unseen_fraction: float = 0.2
    seed: int = 0

    @classmethod
    def from_config(cls, block: dict[str, Any] | None) -> UsersConfig:
        """From the config's ``users`` block (missing keys take the defaults)."""
        values = dict(block or {})
        unknown = sorted(set(values) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"users: unknown key(s) {unknown}")
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        if self.count < 1:
            raise ValueError(f"users.count must be >= 1, got {self.count}")
        if self.rank < 1:
            raise ValueError(f"users.rank must be >= 1, got {self.rank}")
        for key in ("pairs_sigma", "delta_scale", "barrier_spread", "non_decision_spread"):
            if getattr(self, key) < 0:
                raise ValueError(f"users.{key} must be >= 0, got {getattr(self, key)}")
        if not 0 <= self.unseen_fraction < 1:
            raise ValueError(f"users.unseen_fraction must be in [0, 1), got {self.unseen_fraction}")


@dataclasses.dataclass(frozen=True)
class SimulatedUsers:
    """Per-user truth: embeddings e_u (count, k), projection P (k, D), barriers a_u and
    non-decision times t0_u (count,)."""

    embeddings: NDArray[np.float64]
    projection: NDArray[np.float64]
    barriers: NDArray[np.float64]
    delta_scale: float
    non_decision_times: NDArray[np.float64] | None = None

    @property
    def count(self) -> int:
        return int(self.barriers.shape[0])

    def delta(self, features: NDArray, user_id: NDArray[np.int64]) -> NDArray[np.float64]:
        """s <e_u, P phi(x)> per row of ``features`` (rows, D) for the row's user."""
        _check_user_ids(user_id, self.count, "user_id")
        projected = np.asarray(features, dtype=np.float64) @ self.projection.T
        return self.delta_scale * np.einsum("rk,rk->r", projected, self.embeddings[user_id])

    def barrier(self, user_id: NDArray[np.int64]) -> NDArray[np.float64]:
        _check_user_ids(user_id, self.count, "user_id")
        return self.barriers[user_id]

    def non_decision_time(self, user_id: NDArray[np.int64]) -> NDArray[np.float64]:
        """t0_u per row (zeros when the users were drawn without a non-decision time)."""
        _check_user_ids(user_id, self.count, "user_id")
        if self.non_decision_times is None:
            return np.zeros(user_id.shape)
        return self.non_decision_times[user_id]


def positions_of(sorted_ids: NDArray, user_id: ArrayLike) -> tuple[NDArray[np.int64], NDArray]:
    """(position of each ``user_id`` in the sorted unique ``sorted_ids``, whether it is there)."""
    user_id = np.asarray(user_id, np.int64)
    position = np.searchsorted(sorted_ids, user_id)
    found = (position < sorted_ids.size) & (
        sorted_ids[np.minimum(position, max(sorted_ids.size - 1, 0))] == user_id
    )
    return position.astype(np.int64), found


def embedding_rows(sorted_ids: NDArray, user_id: ArrayLike) -> NDArray[np.int64]:
    """Embedding row of each ``user_id`` in a table whose row 0 is the unseen user: 1 + its
    position in the sorted unique ``sorted_ids``, and 0 for an id not among them."""
    position, found = positions_of(sorted_ids, user_id)
    return np.where(found, position + 1, 0).astype(np.int64)


def _check_user_ids(user_id: NDArray, count: int, source: str) -> None:
    if user_id.size and (user_id.min() < 0 or user_id.max() >= count):
        raise DataError(
            f"{source}: user ids must be in [0, {count}), got range "
            f"[{int(user_id.min())}, {int(user_id.max())}]"
        )


def _rng(seed: int, run_seed: int, what: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, run_seed, *what.encode()]))


def draw_users(
    config: UsersConfig,
    dim: int,
    barrier: float,
    run_seed: int = 0,
    non_decision_time: float = 0.0,
) -> SimulatedUsers:
    """The ``config.count`` users of one world: tastes, the shared projection, barriers and
    non-decision times (t0_u draws come last, so adding them leaves the other draws as they
    were)."""
    if config.non_decision_spread > 0 and non_decision_time <= 0:
        raise ValueError(
            f"users.non_decision_spread={config.non_decision_spread} spreads t0 around "
            f"ddm.non_decision_time, which is {non_decision_time}; set it > 0"
        )
    rng = _rng(config.seed, run_seed, "users")
    embeddings = rng.standard_normal((config.count, config.rank))
    projection = rng.standard_normal((config.rank, dim)) / np.sqrt(dim)
    barriers = barrier * np.exp(config.barrier_spread * rng.standard_normal(config.count))
    t0 = non_decision_time * np.exp(config.non_decision_spread * rng.standard_normal(config.count))
    return SimulatedUsers(embeddings, projection, barriers, config.delta_scale, t0)


def assign_users(n_pairs: int, config: UsersConfig, run_seed: int = 0) -> NDArray[np.int64]:
    """A user per pair: every user gets one pair, the rest are spread by log-normal weights
    (heavy-tailed pairs per user), in a seeded random order."""
    if n_pairs < config.count:
        raise DataError(
            f"users.count={config.count} users need at least as many pairs, have {n_pairs}; "
            "lower users.count"
        )
    rng = _rng(config.seed, run_seed, "assignment")
    weights = np.exp(config.pairs_sigma * rng.standard_normal(config.count))
    extra = rng.multinomial(n_pairs - config.count, weights / weights.sum())
    user_id = np.repeat(np.arange(config.count, dtype=np.int64), extra + 1)
    return rng.permutation(user_id)


def simulate_user_labels(
    reward_1: NDArray,
    reward_2: NDArray,
    x1: NDArray,
    x2: NDArray,
    user_id: NDArray[np.int64],
    users: SimulatedUsers,
    seed: int,
) -> dict[str, NDArray]:
    """Each user's rewards r_u(x1), r_u(x2), and (choice, response_time) drawn from the DDM
    with drift r_u(x1) - r_u(x2), the user's barrier a_u and non-decision time t0_u."""
    user_reward_1 = np.asarray(reward_1, np.float64) + users.delta(x1, user_id)
    user_reward_2 = np.asarray(reward_2, np.float64) + users.delta(x2, user_id)
    choice, response_time = ddm.simulate(
        user_reward_1 - user_reward_2,
        users.barrier(user_id),
        np.random.default_rng(seed),
        non_decision_time=users.non_decision_time(user_id),
    )
    return {
        "user_id": np.asarray(user_id, np.int64),
        "reward_1": user_reward_1,
        "reward_2": user_reward_2,
        "choice": choice,
        "response_time": response_time,
    }


def estimate_barriers(
    user_id: NDArray[np.int64],
    response_time: NDArray,
    scaled_diff: NDArray,
    count: int,
    shrink: bool = True,
) -> dict[str, NDArray | float]:
    """Per-user barriers a_u from response times, shrunk toward the population value.

    ``scaled_diff`` z = a_u v per pair is what a log-loss fit with barrier 1 estimates (choices
    identify only the product). With E[T | v] = a^2 tanh(z) / z, the moment estimate is
    a_u^2 = sum T / sum tanh(z) / z over the user's pairs, and the population value pools all
    pairs. The log estimates are shrunk toward the population's with empirical-Bayes weights
    tau^2 / (tau^2 + se_u^2): se_u^2 is the delta-method variance of log a_u (half the squared
    coefficient of variation of T / q over sqrt(n_u)), tau^2 the between-user variance left
    after the noise. A user with no pairs gets the population value.

    Returns ``barriers`` (count,), ``raw`` (unshrunk, NaN without pairs), ``pairs`` per user,
    ``population`` and ``between_user_sd`` tau.
    """
    user_id = np.asarray(user_id, np.int64)
    _check_user_ids(user_id, count, "estimate_barriers")
    time = np.asarray(response_time, np.float64)
    z = np.abs(np.asarray(scaled_diff, np.float64))
    ratio = np.where(z < 1e-6, 1.0, np.tanh(z) / np.maximum(z, 1e-6))
    population = float(np.sqrt(time.sum() / ratio.sum()))
    pairs = np.bincount(user_id, minlength=count)
    time_sum = np.bincount(user_id, time, minlength=count)
    ratio_sum = np.bincount(user_id, ratio, minlength=count)
    has = pairs > 0
    log_raw = np.full(count, np.nan)
    # Decision times are response times minus the global t0, so a user whose own t0 is
    # smaller can have a non-positive sum: no estimate (the population value) for them.
    positive = has & (time_sum > 0)
    log_raw[positive] = 0.5 * np.log(time_sum[positive] / ratio_sum[positive])
    # Per-pair a^2 estimates T / q scatter around their user's mean; their pooled relative
    # variance (one number, so a user with one pair is not taken as noise-free) sets se_u^2.
    per_pair = time / ratio
    user_mean = np.bincount(user_id, per_pair, minlength=count) / np.maximum(pairs, 1)
    rows_of_user = pairs[user_id]
    several = rows_of_user > 1
    unbiased = rows_of_user / np.maximum(rows_of_user - 1, 1)
    deviations = (per_pair / user_mean[user_id] - 1.0) ** 2 * unbiased
    relative_variance = float(np.mean(deviations[several])) if several.any() else 1.0
    noise = np.full(count, np.inf)
    noise[has] = 0.25 * relative_variance / pairs[has]
    log_estimate, _, between_sd = shrink_toward(
        log_raw, noise, has, shrink, center=float(np.log(population))
    )
    return {
        "barriers": np.exp(log_estimate),
        "raw": np.exp(log_raw),
        "pairs": pairs,
        "population": population,
        "between_user_sd": between_sd,
    }


# A user needs this many pairs for their own (a_u, t0_u) likelihood fit; fewer get the
# population values (two parameters from a handful of times are mostly noise).
MIN_PAIRS_FOR_DDM = 10
# The non-decision shift stays below the user's smallest time by this fraction of its mean.
SHIFT_MARGIN = 1e-3


def _time_loglik(
    time: Any, z: Any, log_barrier: Any, shift_log_gap: Any, ceiling: Any, rows_user: Any
) -> Any:
    """Per-row log f(T - shift | v = z / a, a) with a = exp(log_barrier[user]) and
    shift = ceiling[user] - exp(shift_log_gap[user]) (kept below the user's smallest T)."""
    from rtpref.calibration import log_time_density_torch

    barrier = log_barrier.exp()[rows_user]
    shift = ceiling[rows_user] - shift_log_gap.exp()[rows_user]
    return log_time_density_torch(time - shift, z / barrier, barrier)


def _fit_time_likelihood(
    time: NDArray, z: NDArray, user: NDArray[np.int64], groups: int
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Maximum likelihood of (log a_g, shift_g) for each group g of rows (the groups'
    likelihoods are separable, so one L-BFGS over all of them); returns the estimates and
    their delta-method variances from each group's 2 x 2 observed information."""
    import torch
    from scipy import optimize

    time_t = torch.from_numpy(np.asarray(time, np.float64))
    z_t = torch.from_numpy(np.asarray(z, np.float64))
    user_t = torch.from_numpy(user)
    smallest = np.full(groups, np.inf)
    np.minimum.at(smallest, user, time)
    mean_time = np.bincount(user, time, minlength=groups) / np.maximum(
        np.bincount(user, minlength=groups), 1
    )
    ceiling = torch.from_numpy(smallest - SHIFT_MARGIN * np.abs(mean_time))

    def negative(flat: NDArray) -> tuple[float, NDArray]:
        parameters = torch.tensor(flat, dtype=torch.float64, requires_grad=True)
        log_barrier, gap = parameters[:groups], parameters[groups:]
        total = -_time_loglik(time_t, z_t, log_barrier, gap, ceiling, user_t).sum()
        total.backward()
        return total.item(), parameters.grad.numpy().copy()

    # Start: a = 1, the shift half-way between 0 and the smallest time (or just below it).
    start_gap = np.log(np.maximum(0.5 * smallest, 1e-3))
    result = optimize.minimize(
        negative, np.concatenate([np.zeros(groups), start_gap]), jac=True, method="L-BFGS-B"
    )
    log_barrier = torch.tensor(result.x[:groups], requires_grad=True)
    shift = torch.tensor(ceiling.numpy() - np.exp(result.x[groups:]), requires_grad=True)
    gap = torch.log(ceiling - shift)
    total = -_time_loglik(time_t, z_t, log_barrier, gap, ceiling, user_t).sum()
    grad_a, grad_s = torch.autograd.grad(total, (log_barrier, shift), create_graph=True)
    # The likelihood is separable by group, so each group's 2 x 2 block comes from summing.
    h_aa, h_as = torch.autograd.grad(grad_a.sum(), (log_barrier, shift), retain_graph=True)
    h_ss = torch.autograd.grad(grad_s.sum(), shift)[0]
    h_aa, h_as, h_ss = (value.detach().numpy() for value in (h_aa, h_as, h_ss))
    determinant = h_aa * h_ss - h_as**2
    proper = (determinant > 0) & (h_aa > 0)
    safe = np.where(proper, determinant, 1.0)
    variance_a = np.where(proper, h_ss / safe, np.inf)
    variance_s = np.where(proper, h_aa / safe, np.inf)
    return log_barrier.detach().numpy(), shift.detach().numpy(), variance_a, variance_s


def shrink_toward(
    raw: NDArray,
    variance: NDArray,
    has: NDArray,
    shrink: bool,
    center: float | None = None,
    fallback: float = 0.0,
) -> tuple[NDArray, float, float]:
    """Empirical-Bayes shrinkage of per-user ``raw`` estimates (those where ``has``, with
    sampling ``variance``) toward ``center`` (default: the users' mean): weight tau^2 /
    (tau^2 + variance), with tau^2 the between-user variance left after the noise; users
    without an estimate get the center. ``shrink=False`` keeps the raw values. Returns the
    estimates, the center (``fallback`` when no user has an estimate and no center is given)
    and tau."""
    # A non-finite raw value (e.g. a user whose decision times sum to <= 0) is no estimate.
    usable = has & np.isfinite(variance) & np.isfinite(raw)
    if not usable.any():
        value = fallback if center is None else center
        return np.full(raw.shape, value), value, 0.0
    population = float(np.mean(raw[usable])) if center is None else center
    between = float(max(np.var(raw[usable]) - np.mean(variance[usable]), 0.0))
    if shrink:
        # Noise-free users (zero variance) keep their own value.
        weight = np.where(usable, between / np.maximum(between + variance, 1e-300), 0.0)
    else:
        weight = usable.astype(np.float64)
    shrunk = np.where(usable, weight * np.nan_to_num(raw) + (1 - weight) * population, population)
    return shrunk, population, float(np.sqrt(between))


def estimate_user_ddm(
    user_id: NDArray[np.int64],
    decision_time: NDArray,
    scaled_diff: NDArray,
    count: int,
    shrink: bool = True,
) -> dict[str, NDArray | float]:
    """Per-user barriers a_u and non-decision shifts by maximum likelihood, shrunk toward
    the population values.

    ``decision_time`` is the response time minus the global t0, so a user whose own t0_u
    differs has times shifted by d_u = t0_u - t0 (either sign). With z = a_u v per pair (what
    a log-loss fit with barrier 1 estimates, ``scaled_diff``), each time has the exact density
    f(T - d_u | v = z / a_u, a_u) of the first passage to either barrier; its leading edge
    pins d_u and its scale pins a_u. Each user with at least ``MIN_PAIRS_FOR_DDM`` pairs gets
    their own maximum (log a_u, d_u), and both are shrunk toward the users' mean (the
    population value) with empirical-Bayes weights from the observed information. Users
    without enough pairs get the population values; if no user has enough, one fit pooling
    every pair gives them.

    Returns ``barriers`` and ``shifts`` (count,), their unshrunk ``raw_barriers`` and
    ``raw_shifts`` (NaN for users without enough pairs), ``pairs`` per user, the
    ``population`` barrier and ``population_shift``, and the between-user sds.
    """
    user_id = np.asarray(user_id, np.int64)
    _check_user_ids(user_id, count, "estimate_user_ddm")
    time = np.asarray(decision_time, np.float64)
    z = np.abs(np.asarray(scaled_diff, np.float64))
    if time.size == 0 or not np.all(np.isfinite(time)) or not np.all(np.isfinite(z)):
        raise DataError("estimate_user_ddm: response times and reward differences must be finite")
    pairs = np.bincount(user_id, minlength=count)
    has = pairs >= MIN_PAIRS_FOR_DDM
    raw_a = np.full(count, np.nan)
    raw_shift = np.full(count, np.nan)
    variance_a = np.full(count, np.inf)
    variance_shift = np.full(count, np.inf)
    # Without any user to average, one fit pooling every pair gives the population values.
    fallback_a = fallback_shift = float("nan")
    if has.any():
        rows = has[user_id]
        groups = np.flatnonzero(has)
        group_of_user = np.full(count, -1)
        group_of_user[groups] = np.arange(groups.size)
        estimates = _fit_time_likelihood(
            time[rows], z[rows], group_of_user[user_id[rows]], groups.size
        )
        raw_a[groups], raw_shift[groups], variance_a[groups], variance_shift[groups] = estimates
    else:
        pooled_a, pooled_shift, _, _ = _fit_time_likelihood(
            time, z, np.zeros(time.size, np.int64), 1
        )
        fallback_a, fallback_shift = float(pooled_a[0]), float(pooled_shift[0])
    log_barriers, log_population, barrier_sd = shrink_toward(
        raw_a, variance_a, has, shrink, fallback=fallback_a
    )
    shifts, population_shift, shift_sd = shrink_toward(
        raw_shift, variance_shift, has, shrink, fallback=fallback_shift
    )
    return {
        "barriers": np.exp(log_barriers),
        "shifts": shifts,
        "raw_barriers": np.exp(raw_a),
        "raw_shifts": raw_shift,
        "pairs": pairs,
        "population": float(np.exp(log_population)),
        "population_shift": population_shift,
        "between_user_sd": barrier_sd,
        "between_user_shift_sd": shift_sd,
    }


def attach_user_ids(rewards: pa.Table, user_paths: Sequence[str | Path]) -> pa.Table:
    """``rewards`` plus the ``user_id`` of each pair, read from the raw shards that hold the
    source's users (Pick-a-Pic records one per pair). A pair without a user is an error
    that names it, never a silent mix of users."""
    tables = []
    for path in user_paths:
        try:
            tables.append(pq.read_table(path, columns=["pair_index", "user_id"]))
        except (pa.ArrowInvalid, OSError, KeyError) as error:
            raise DataError(f"{path}: cannot read pair_index, user_id ({error})") from error
    users = pa.concat_tables(tables)
    if users.column("user_id").null_count:
        row = int(np.flatnonzero(users.column("user_id").is_null().to_numpy())[0])
        raise DataError(
            f"{', '.join(map(str, user_paths))}: user_id is missing for pair_index "
            f"{int(users.column('pair_index')[row].as_py())}; users need a user_id on every pair"
        )
    joined = rewards.join(users, "pair_index", join_type="left outer").sort_by("pair_index")
    missing = joined.column("user_id").is_null().to_numpy(zero_copy_only=False)
    if missing.any():
        first = int(joined.column("pair_index")[int(np.flatnonzero(missing)[0])].as_py())
        raise DataError(
            f"{int(missing.sum())} pair(s) have rewards but no user_id in "
            f"{', '.join(map(str, user_paths))}, first pair_index {first}"
        )
    return joined


# --- Users keyed by real ids (image sources: Pick-a-Pic's user_id) ---------------------------


def _id_entropy(user_id: int) -> int:
    """A user id (any int64, negative ones too) as the non-negative int SeedSequence takes."""
    return int(user_id) % 2**64


def _id_rng(seed: int, user_id: int, what: str) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence([seed, _id_entropy(user_id), *what.encode()])
    )


@dataclasses.dataclass(frozen=True)
class UsersById:
    """:class:`SimulatedUsers` whose row r is the user with real id ``ids[r]`` (sorted)."""

    users: SimulatedUsers
    ids: NDArray[np.int64]

    def rows(self, user_id: NDArray) -> NDArray[np.int64]:
        """The row of each real ``user_id``; an id that was not drawn is an error naming it."""
        position, found = positions_of(self.ids, user_id)
        if not found.all():
            raise DataError(f"user_id {int(np.asarray(user_id)[~found][0])} has no simulated user")
        return position


def draw_users_for_ids(
    config: UsersConfig,
    user_ids: NDArray,
    dim: int,
    barrier: float,
    non_decision_time: float = 0.0,
) -> UsersById:
    """Simulated users for the real ids ``user_ids`` (duplicates allowed): each user's taste
    e_u, barrier a_u and non-decision time t0_u are drawn from (``config.seed``, that user's
    id) alone, so a user keeps them whichever other ids the data hold (adding pairs or users
    changes nobody's taste); the projection P (k x D) is drawn once from (``config.seed``,
    ``dim``). Every user draws e_u, z_u and z'_u in that order whatever the spreads, so with
    ``barrier_spread: 0`` every a_u is ``barrier`` exactly (t0_u likewise)."""
    if config.non_decision_spread > 0 and non_decision_time <= 0:
        raise ValueError(
            f"users.non_decision_spread={config.non_decision_spread} spreads t0 around "
            f"ddm.non_decision_time, which is {non_decision_time}; set it > 0"
        )
    if dim < 1:
        raise ValueError(f"feature dim must be >= 1, got {dim}")
    ids = np.unique(np.asarray(user_ids, np.int64))
    embeddings = np.empty((ids.size, config.rank))
    z = np.empty((ids.size, 2))
    for row, user in enumerate(ids):
        rng = _id_rng(config.seed, int(user), "user")
        embeddings[row] = rng.standard_normal(config.rank)
        z[row] = rng.standard_normal(2)
    projection_rng = np.random.default_rng(
        np.random.SeedSequence([config.seed, dim, *b"projection"])
    )
    projection = projection_rng.standard_normal((config.rank, dim)) / np.sqrt(dim)
    barriers = barrier * np.exp(config.barrier_spread * z[:, 0])
    t0 = non_decision_time * np.exp(config.non_decision_spread * z[:, 1])
    users = SimulatedUsers(embeddings, projection, barriers, config.delta_scale, t0)
    return UsersById(users, ids)


def simulates_users(config: UsersConfig) -> bool:
    """Whether users differ in anything but their id (taste, barrier or non-decision time)."""
    return config.enabled and (
        config.delta_scale > 0 or config.barrier_spread > 0 or config.non_decision_spread > 0
    )


def unseen_user_ids(user_ids: NDArray, fraction: float, seed: int) -> NDArray[np.int64]:
    """The users held out of training entirely: each user is unseen with probability
    ``fraction``, decided by a uniform draw from (``seed``, that user's id) alone, so a user
    stays seen or unseen whichever other users the data hold. When the draws pick no user but
    ``fraction`` > 0 and there are at least two users, the user with the smallest draw is
    unseen (so that unseen-user metrics exist); all users unseen leaves the one with the
    largest draw seen. Sorted ids."""
    ids = np.unique(np.asarray(user_ids, np.int64))
    if fraction <= 0 or ids.size == 0:
        return ids[:0]
    draws = np.array([_id_rng(seed, int(user), "unseen").random() for user in ids])
    unseen = draws < fraction
    if ids.size >= 2 and not unseen.any():
        unseen[np.argmin(draws)] = True
    if unseen.all():
        unseen[np.argmax(draws)] = False
    return ids[unseen]


__all__ += ["UsersById", "draw_users_for_ids", "simulates_users", "unseen_user_ids"]
