"""Reference implementations the suite measures against (not part of the package)."""

from __future__ import annotations

import math

import numpy as np


def euler_per_row(
    drift: np.ndarray,
    barrier: float = 1.0,
    dt: float = 1e-3,
    seed: int = 0,
    max_steps: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """The reference code's sampler: a Python loop per row, Euler steps of dt until a barrier
    is crossed (monitored only at the grid points, hence biased upwards)."""
    rng = np.random.default_rng(seed)
    choice = np.empty(drift.size, dtype=np.int8)
    time = np.empty(drift.size)
    scale = math.sqrt(dt)
    for row, v in enumerate(drift):
        position, steps = 0.0, 0
        while abs(position) < barrier and steps < max_steps:
            position += v * dt + scale * rng.standard_normal()
            steps += 1
        choice[row] = 1 if position >= barrier else -1
        time[row] = steps * dt
    return choice, time


def euler_vectorised(
    drift: np.ndarray, barrier: float = 1.0, dt: float = 1e-3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Same scheme as `euler_per_row`, vectorised over rows, to measure its bias cheaply."""
    rng = np.random.default_rng(seed)
    position = np.zeros(drift.size)
    time = np.zeros(drift.size)
    choice = np.zeros(drift.size, dtype=np.int8)
    alive = np.arange(drift.size)
    steps = 0
    scale = math.sqrt(dt)
    while alive.size:
        steps += 1
        position[alive] += drift[alive] * dt + scale * rng.standard_normal(alive.size)
        crossed = np.abs(position[alive]) >= barrier
        done = alive[crossed]
        time[done] = steps * dt
        choice[done] = np.where(position[done] >= barrier, 1, -1)
        alive = alive[~crossed]
    return choice, time
