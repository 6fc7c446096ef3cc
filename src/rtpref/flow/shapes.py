"""2-D shapes as fixed-length point sequences: Swiss rolls and S-curves, and a reward on them.

A shape is ``points`` points along a curve, stored flat as (x_1, y_1, x_2, y_2, ...), centred,
scaled to unit root-mean-square radius times a random factor, randomly rotated, with Gaussian
noise on every coordinate. Points run along the curve in order, so a shape is a path.

The simulated person's reward is transparent: walk along the path and add up the turning
angle at each interior point, separately over the first and the second half of the path. An
S-curve turns one way for its first half and back for its second; a Swiss roll turns the same
way all along; a random wiggle's turns cancel within each half. The reward

    s_curve_likeness = (|turning of half 1| + |turning of half 2| - |total turning|)
                       / sum of |turning angles|

is 2 min(|turning of half 1|, |turning of half 2|) / sum |turning| when the halves turn in
opposite senses and 0 when they turn the same way, so it lies in [0, 1] (triangle inequality):
near 1 for an S-curve, near 0 for a Swiss roll and for a path that wiggles at random. It does
not depend on position, rotation, scale, reflection or the direction the path is walked. A
shape counts as an S-curve when its likeness exceeds ``S_CURVE_THRESHOLD``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import NDArray

KINDS = ("swiss_roll", "s_curve")
S_CURVE_THRESHOLD = 0.5


@dataclasses.dataclass(frozen=True)
class ShapeConfig:
    """How shapes are drawn: points per shape, the spread of scale and noise."""

    points: int = 32
    scale_min: float = 0.8
    scale_max: float = 1.2
    noise: float = 0.02

    def __post_init__(self) -> None:
        if self.points < 4:
            raise ValueError(f"shapes.points={self.points}: a path needs at least 4 points")
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError(
                f"shapes.scale_min={self.scale_min}, scale_max={self.scale_max}: "
                "need 0 < scale_min <= scale_max"
            )
        if self.noise < 0:
            raise ValueError(f"shapes.noise={self.noise} must be >= 0")

    @property
    def dim(self) -> int:
        return 2 * self.points


def _swiss_roll(parameter: NDArray) -> NDArray:
    # One and a half turns of the Archimedean spiral r = t, as in scikit-learn's make_swiss_roll.
    t = 1.5 * np.pi * (1.0 + 2.0 * parameter)
    return np.stack([t * np.cos(t), t * np.sin(t)], axis=-1)


def _s_curve(parameter: NDArray) -> NDArray:
    # The 2-D profile of scikit-learn's make_s_curve: two opposite three-quarter circles.
    t = 3.0 * np.pi * (parameter - 0.5)
    return np.stack([np.sin(t), np.sign(t) * (np.cos(t) - 1.0)], axis=-1)


def sample_shapes(
    kinds: NDArray, config: ShapeConfig, rng: np.random.Generator
) -> NDArray[np.float32]:
    """One shape per entry of ``kinds`` (0 = Swiss roll, 1 = S-curve), shape (rows, 2 * points)."""
    kinds = np.asarray(kinds)
    if kinds.ndim != 1 or not np.isin(kinds, (0, 1)).all():
        raise ValueError("kinds must be a 1-D array of 0 (Swiss roll) and 1 (S-curve)")
    parameter = np.linspace(0.0, 1.0, config.points)
    curves = np.where(
        kinds[:, None, None] == 1, _s_curve(parameter)[None], _swiss_roll(parameter)[None]
    )
    curves = curves - curves.mean(axis=1, keepdims=True)
    curves /= np.sqrt((curves**2).sum(axis=2).mean(axis=1))[:, None, None]
    angle = rng.uniform(0.0, 2.0 * np.pi, len(kinds))
    rotation = np.stack(
        [
            np.stack([np.cos(angle), -np.sin(angle)], -1),
            np.stack([np.sin(angle), np.cos(angle)], -1),
        ],
        axis=-2,
    )
    scale = rng.uniform(config.scale_min, config.scale_max, len(kinds))
    curves = np.einsum("rij,rpj->rpi", rotation, curves) * scale[:, None, None]
    curves += config.noise * rng.standard_normal(curves.shape)
    return curves.reshape(len(kinds), -1).astype(np.float32)


def sample_mix(
    rows: int, s_curve_fraction: float, config: ShapeConfig, rng: np.random.Generator
) -> tuple[NDArray[np.float32], NDArray[np.int8]]:
    """``rows`` shapes, each an S-curve with probability ``s_curve_fraction``; (shapes, kinds)."""
    if not 0.0 <= s_curve_fraction <= 1.0:
        raise ValueError(f"s_curve_fraction={s_curve_fraction} must be in [0, 1]")
    kinds = (rng.random(rows) < s_curve_fraction).astype(np.int8)
    return sample_shapes(kinds, config, rng), kinds


def turning_angles(shapes: NDArray) -> NDArray[np.float64]:
    """Signed turning angle at each interior point, shape (rows, points - 2), in (-pi, pi].

    This is also the fixed, rotation- and scale-invariant embedding the learners may use.
    """
    points = np.asarray(shapes, dtype=np.float64).reshape(len(shapes), -1, 2)
    steps = np.diff(points, axis=1)
    heading = np.arctan2(steps[..., 1], steps[..., 0])
    return np.angle(np.exp(1j * np.diff(heading, axis=1)))


def s_curve_likeness(shapes: NDArray) -> NDArray[np.float64]:
    """The true reward (see the module doc), in [0, 1]."""
    angles = turning_angles(shapes)
    half = angles.shape[1] // 2
    first, second = angles[:, :half].sum(axis=1), angles[:, -half:].sum(axis=1)
    # With an odd count the middle angle belongs to neither half, so that reversing the path
    # swaps the halves exactly.
    cancelled = np.abs(first) + np.abs(second) - np.abs(first + second)
    return cancelled / np.maximum(np.abs(angles).sum(axis=1), 1e-12)


def is_s_curve(shapes: NDArray) -> NDArray[np.bool_]:
    """The transparent classifier: a shape is an S-curve when its two halves turn in opposite
    senses by more than a quarter of its total turning each."""
    return s_curve_likeness(shapes) > S_CURVE_THRESHOLD
