"""Fine-tune a copy of generator A into generator B with a learned reward on A's samples.

Both methods are offline: they see a fixed pool of shapes sampled from A and the learned
reward of each, never the true reward.

``reward_weighted`` (reward-weighted flow matching): flow matching on the pool, each shape
drawn with probability proportional to exp(strength * z), where z is its learned reward
standardised over the pool. ``strength`` is an inverse temperature: 0 refits A to its own
samples (no change in distribution), larger values concentrate B on the shapes the reward
ranks highest (and, unchecked, collapse onto them).

``pmpo`` (after preference-based policy optimisation, Abdolmaleki et al. 2024, "Preference
Optimization as Probabilistic Inference"): the top ``fraction`` of the pool by learned reward are
positives, the bottom ``fraction`` negatives. The flow-matching loss is a bound on the negative
log-likelihood, so minus it is the likelihood proxy; the loss is

    alpha * FM(positives) - (1 - alpha) * FM(negatives) + divergence_weight * D(B, A),

with D the mean squared difference of the velocities of B and A at the same points (for two
flows from the same noise, this bounds the KL divergence of their samples up to a constant).
``alpha`` sets how hard B is pushed towards positives versus away from negatives, and
``divergence_weight`` how far it may move from A; without it the negative term is unbounded.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from rtpref.flow.generator import VelocityNet, flow_matching_loss, interpolate, optimise

METHODS = ("reward_weighted", "pmpo")


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """The config's ``flow.finetune`` block (see config/schema.yaml for each key)."""

    steps: int = 300
    batch_size: int = 128
    learning_rate: float = 3e-4
    strength: float = 1.0
    fraction: float = 0.25
    alpha: float = 0.7
    divergence_weight: float = 1.0


def standardised(scores: np.ndarray) -> torch.Tensor:
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).all():
        raise ValueError("learned rewards of the pool contain NaN or infinite values")
    spread = scores.std()
    centred = scores - scores.mean()
    return torch.from_numpy(centred / spread if spread > 0 else centred).float()


def reward_weights(scores: np.ndarray, strength: float) -> torch.Tensor:
    """Sampling probabilities exp(strength * z) / sum, z the standardised learned reward."""
    return torch.softmax(strength * standardised(scores), dim=0)


def split_by_reward(scores: np.ndarray, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices of the top and bottom ``fraction`` of the pool (ties broken by row)."""
    if not 0.0 < fraction <= 0.5:
        raise ValueError(f"flow.finetune.fraction={fraction} must be in (0, 0.5]")
    order = torch.from_numpy(np.argsort(-np.asarray(scores), kind="stable").copy())
    count = max(1, int(round(fraction * len(order))))
    return order[:count], order[-count:]


def finetune(
    reference: VelocityNet,
    pool: np.ndarray,
    scores: np.ndarray,
    method: str,
    config: FinetuneConfig,
    seed: int,
    log: Callable[..., None] = print,
) -> VelocityNet:
    """Model B: a copy of ``reference`` fine-tuned on ``pool`` with learned ``scores``."""
    if method not in METHODS:
        raise ValueError(f"unknown fine-tuning method {method!r}; choose from {list(METHODS)}")
    if len(pool) != len(scores):
        raise ValueError(f"{len(pool)} pool shapes but {len(scores)} learned rewards")
    data = torch.from_numpy(np.array(pool, dtype=np.float32))
    model = copy.deepcopy(reference).requires_grad_(True)
    # A frozen copy of A, so that the caller's model is left as it was.
    reference = copy.deepcopy(reference).eval().requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    label = f"finetune {method}"

    if method == "reward_weighted":
        weights = reward_weights(scores, config.strength)

        def batch_loss(_step: int) -> torch.Tensor:
            rows = torch.multinomial(weights, config.batch_size, True, generator=generator)
            return flow_matching_loss(model, *interpolate(data[rows], generator)).mean()

    else:
        positives, negatives = split_by_reward(scores, config.fraction)

        def batch_loss(_step: int) -> torch.Tensor:
            pick = [
                rows[torch.randint(len(rows), (config.batch_size,), generator=generator)]
                for rows in (positives, negatives)
            ]
            x_pos, t_pos, target_pos = interpolate(data[pick[0]], generator)
            x_neg, t_neg, target_neg = interpolate(data[pick[1]], generator)
            x_all, t_all = torch.cat([x_pos, x_neg]), torch.cat([t_pos, t_neg])
            divergence = ((model(x_all, t_all) - reference(x_all, t_all)) ** 2).mean()
            return (
                config.alpha * flow_matching_loss(model, x_pos, t_pos, target_pos).mean()
                - (1.0 - config.alpha) * flow_matching_loss(model, x_neg, t_neg, target_neg).mean()
                + config.divergence_weight * divergence
            )

    torch.manual_seed(seed)
    optimise(model, batch_loss, config.steps, config.learning_rate, label, log)
    return model
