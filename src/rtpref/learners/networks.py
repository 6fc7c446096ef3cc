"""Networks: one reward network g applied to both items, and a swap-symmetric time network."""

from __future__ import annotations

import torch
from torch import nn


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
            layers.append(nn.Dropout(dropout))
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
