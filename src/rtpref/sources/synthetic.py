"""The paper's synthetic benchmark: Gaussian items, rewards from a random sigmoid MLP."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from rtpref.chunks import features_to_arrow


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    n_pairs: int = 50_000
    dim: int = 10
    hidden: tuple[int, ...] = (64, 32)
    weight_scale: float = 2.0
    seed: int = 0
    # None: the reward function is drawn from ``seed`` along with the rows; an integer fixes
    # one function (drawn from it) whatever ``seed`` is, for ablations.
    reward_seed: int | None = None


def world_config(settings: dict, run_seed: int) -> SyntheticConfig:
    """The synthetic data set of one run seed: its own rows and (unless ``reward_seed`` is
    set) its own reward function, both derived from (``seed``, run seed)."""
    values = {**settings, "hidden": tuple(settings.get("hidden", SyntheticConfig.hidden))}
    values["seed"] = world_seed(values.get("seed", 0), run_seed, "pairs")
    return SyntheticConfig(**values)


def world_seed(base: int, run_seed: int, what: str) -> int:
    """A seed for ``what`` in the world of ``run_seed``, independent across the three."""
    words = [base, run_seed, *what.encode()]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> 1)


def _sigmoid(values: NDArray) -> NDArray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))


class RewardFunction:
    """r(x) = w_out . s(W_k ... s(W_1 x)), sigmoid hidden layers, zero biases, i.i.d.
    weight_scale * N(0, 1) weights."""

    def __init__(
        self, dim: int, hidden: tuple[int, ...], weight_scale: float, rng: np.random.Generator
    ) -> None:
        widths = [dim, *hidden, 1]
        self.weights = [
            weight_scale * rng.standard_normal((fan_in, fan_out))
            for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True)
        ]

    def __call__(self, x: NDArray) -> NDArray[np.float64]:
        hidden = np.asarray(x, dtype=np.float64)
        for weight in self.weights[:-1]:
            hidden = _sigmoid(hidden @ weight)
        return (hidden @ self.weights[-1])[:, 0]


def make_pairs(config: SyntheticConfig) -> tuple[pa.Table, pa.Table]:
    """Return (features, rewards) tables keyed by pair_index.

    Rewards are computed from the float32 features that are stored, so the reward is an exact
    function of what the learners see.
    """
    if config.n_pairs < 1 or config.dim < 1:
        raise ValueError(f"n_pairs and dim must be >= 1, got {config.n_pairs}, {config.dim}")
    rng = np.random.default_rng(config.seed)
    reward_rng = rng if config.reward_seed is None else np.random.default_rng(config.reward_seed)
    reward = RewardFunction(config.dim, tuple(config.hidden), config.weight_scale, reward_rng)
    x1 = rng.standard_normal((config.n_pairs, config.dim)).astype(np.float32)
    x2 = rng.standard_normal((config.n_pairs, config.dim)).astype(np.float32)
    pair_index = np.arange(config.n_pairs, dtype=np.int64)
    features = pa.table(
        {"pair_index": pair_index, "x1": features_to_arrow(x1), "x2": features_to_arrow(x2)}
    )
    rewards = pa.table({"pair_index": pair_index, "reward_1": reward(x1), "reward_2": reward(x2)})
    return features, rewards
