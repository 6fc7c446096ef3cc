"""Networks: one reward network g applied to both items, and a swap-symmetric time network."""

from __future__ import annotations

import torch
from torch import nn


class Dropout(nn.Module):
    """Inverted dropout whose masks come from 16-bit slices of 64-bit random words.

    ``nn.Dropout`` draws one Bernoulli variable per element, which on CPU cost ~18 % of an epoch
    of the reference network; four 16-bit uniforms per 64-bit draw make the mask ~8x cheaper.
    The drop probability is rounded to a multiple of 1/65536 (0.2 -> 0.199997).
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        dropped = round(p * 65536)
        self.p = dropped / 65536
        self.threshold = dropped - 32768  # keep an element where its int16 draw >= threshold
        self.scale = 1.0 / (1.0 - self.p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        words = (x.numel() + 3) // 4
        draws = torch.randint(-(2**63), 2**63 - 1, (words,), dtype=torch.int64, device=x.device)
        keep = draws.view(torch.int16)[: x.numel()].view(x.shape) >= self.threshold
        return x * (keep.to(x.dtype) * self.scale)

    def extra_repr(self) -> str:
        return f"p={self.p:.6f}"


def mlp(
    in_dim: int, hidden: tuple[int, ...], dropout: float, batch_norm: bool, scalar: bool = True
) -> nn.Sequential:
    """Linear -> [BatchNorm] -> ReLU -> Dropout per hidden layer, then (if ``scalar``) a linear
    scalar output."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden:
        layers.append(nn.Linear(width, size))
        if batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = size
    if scalar:
        layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class RewardNet(nn.Module):
    """g(x); the pair score g(x1) - g(x2) is antisymmetric by construction."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], dropout: float, batch_norm: bool):
        super().__init__()
        self.body = mlp(in_dim, hidden, dropout, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)

    def pair_diff(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        # One pass over both items, so batch-norm statistics see the two sides alike.
        rewards = self(torch.cat([x1, x2]))
        return rewards[: x1.shape[0]] - rewards[x1.shape[0] :]


# Embedding row of the unseen user: fixed at zero, so that user gets the base g0.
UNSEEN = 0


class UserRewardNet(nn.Module):
    """g(x, u) = g0(x) + <E_u, h(x)>: a frozen population ``base`` g0, a rank-k network
    ``features`` h and the user ``embeddings`` E, whose row ``UNSEEN`` is zero. Used by the
    personalized learners and, loaded from disk, by ``rtpref.RewardModel``."""

    def __init__(self, base: RewardNet, features: nn.Sequential, embeddings: nn.Embedding):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.features = features
        self.embeddings = embeddings

    def train(self, mode: bool = True) -> UserRewardNet:
        super().train(mode)
        self.base.eval()  # frozen: no dropout, and batch-norm statistics stay g0's
        return self

    def forward(self, x: torch.Tensor, users: torch.Tensor | None = None) -> torch.Tensor:
        reward = self.base(x)
        if users is None:
            return reward
        return reward + (self.features(x) * self.embeddings(users)).sum(-1)

    def pair_diff(
        self, x1: torch.Tensor, x2: torch.Tensor, users: torch.Tensor | None = None
    ) -> torch.Tensor:
        both_users = None if users is None else torch.cat([users, users])
        rewards = self(torch.cat([x1, x2]), both_users)
        return rewards[: x1.shape[0]] - rewards[x1.shape[0] :]


class SiameseTimeNet(nn.Module):
    """t_hat = softplus(head(|phi(x1) - phi(x2)|)) with one item network phi for both sides.

    E[T | x1, x2] is an even function of r(x1) - r(x2); this shape builds in the pair
    structure and the swap symmetry, and costs half the FLOPs of the concatenated network.
    """

    def __init__(self, in_dim: int, hidden: tuple[int, ...], dropout: float, batch_norm: bool):
        super().__init__()
        self.item = mlp(in_dim, hidden, dropout, batch_norm, scalar=False)
        width = hidden[-1] if hidden else in_dim
        self.head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        features = self.item(torch.cat([x1, x2]))
        gap = (features[: x1.shape[0]] - features[x1.shape[0] :]).abs()
        return nn.functional.softplus(self.head(gap).squeeze(-1))


class TimeNet(nn.Module):
    """t_hat(x1, x2) > 0 from the concatenated pair, averaged over both orders so that it is
    symmetric in the swap of x1 and x2 (E[T|v] is even in v)."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], dropout: float, batch_norm: bool):
        super().__init__()
        self.body = mlp(2 * in_dim, hidden, dropout, batch_norm)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        both_orders = torch.cat([torch.cat([x1, x2], dim=1), torch.cat([x2, x1], dim=1)])
        raw = nn.functional.softplus(self.body(both_orders).squeeze(-1))
        return 0.5 * (raw[: x1.shape[0]] + raw[x1.shape[0] :])


class ModelShapedTimeNet(nn.Module):
    """t_hat = (a / dh) tanh(a dh) with dh = h(x1) - h(x2) for a reward-like network h.

    This is the drift-diffusion model's own E[T | v] with the drift replaced by a learned
    difference, so t_hat is positive, even in the swap of x1 and x2, and exact when h is the
    true reward.
    """

    def __init__(
        self, in_dim: int, hidden: tuple[int, ...], dropout: float, batch_norm: bool, barrier: float
    ):
        super().__init__()
        self.reward = RewardNet(in_dim, hidden, dropout, batch_norm)
        self.barrier = barrier

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        scaled = self.barrier * self.reward.pair_diff(x1, x2)
        # tanh(z)/z by its Taylor series near 0, where the direct form divides 0 by 0.
        small = scaled.abs() < 1e-3
        safe = torch.where(small, torch.ones_like(scaled), scaled)
        ratio = torch.where(small, 1.0 - scaled.square() / 3.0, torch.tanh(safe) / safe)
        return self.barrier * self.barrier * ratio
