"""Learn a reward on shapes from simulated choices (and response times) with a project learner.

``learn_reward`` is the one place that calls a learner; everything else in ``rtpref.flow`` only
sees the callable it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rtpref.data import Pairs
from rtpref.flow.shapes import turning_angles
from rtpref.learners import make_learner

FEATURES = ("turning_angles", "coordinates")
# The zero-information control: a learner fitted to fair-coin choices instead of the person's.
RANDOM_CHOICE = "random_choice"

Reward = Callable[[np.ndarray], np.ndarray]


def shape_features(shapes: np.ndarray, kind: str) -> np.ndarray:
    """What the learner sees of a shape: its turning angles (a fixed embedding, invariant to
    rotation and scale) or its raw flattened coordinates."""
    if kind == "turning_angles":
        return turning_angles(shapes).astype(np.float32)
    if kind == "coordinates":
        return np.ascontiguousarray(shapes, dtype=np.float32)
    raise ValueError(f"flow.features={kind!r}; choose from {list(FEATURES)}")


def random_choices(rows: int, seed: int) -> np.ndarray:
    """Fair-coin choices (+1 / -1): the same pairs with the information removed."""
    return np.where(np.random.default_rng(seed).random(rows) < 0.5, 1, -1).astype(np.int8)


def learn_reward(
    algorithm: str, pairs: Pairs, training: dict[str, Any], barrier: float, seed: int
) -> Reward:
    """Fit ``algorithm`` on ``pairs`` (features x1, x2 already computed); returns g(features)."""
    learner = make_learner(algorithm, training, barrier=barrier, seed=seed).fit(pairs)

    def reward(features: np.ndarray) -> np.ndarray:
        return np.asarray(learner.predict_reward(features), dtype=np.float64)

    return reward
