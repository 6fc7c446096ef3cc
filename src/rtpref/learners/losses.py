"""The learners' losses, as pure functions of tensors. ``barrier`` is the barrier a of the DDM.

With the EZ model E[Y | v] = (v / a) E[T | v], so the response-time losses regress Y on the
linear moment (diff / a) * t_hat.
"""

from __future__ import annotations

import torch
from torch.nn import functional


def log_loss(diff: torch.Tensor, choice: torch.Tensor, barrier: float = 1.0) -> torch.Tensor:
    """BCE(sigmoid(2 a diff), (Y + 1) / 2): Bradley-Terry likelihood of the choices."""
    return functional.binary_cross_entropy_with_logits(2.0 * barrier * diff, (choice + 1.0) / 2.0)


def time_mse(time_hat: torch.Tensor, response_time: torch.Tensor) -> torch.Tensor:
    return functional.mse_loss(time_hat, response_time)


def orthogonal_loss(
    diff: torch.Tensor,
    choice: torch.Tensor,
    response_time: torch.Tensor,
    time_hat: torch.Tensor,
    diff_hat: torch.Tensor,
    barrier: float = 1.0,
) -> torch.Tensor:
    """mean[(Y - (T - t_hat) diff_hat / a - (diff / a) t_hat)^2], Neyman-orthogonal in both
    nuisances (t_hat, diff_hat)."""
    residual = choice - (response_time - time_hat) * diff_hat / barrier - diff / barrier * time_hat
    return residual.square().mean()


def nonorthogonal_loss(
    diff: torch.Tensor, choice: torch.Tensor, time_hat: torch.Tensor, barrier: float = 1.0
) -> torch.Tensor:
    """mean[(Y - (diff / a) t_hat)^2]: first-order sensitive to errors in t_hat."""
    return (choice - diff / barrier * time_hat).square().mean()


def oracle_loss(
    diff: torch.Tensor, choice: torch.Tensor, true_time: torch.Tensor, barrier: float = 1.0
) -> torch.Tensor:
    """mean[(a Y / E[T|v] - diff)^2] with the true E[T|v]: the identity v = a E[Y|v] / E[T|v]
    as a regression in reward units, so no pair is down-weighted by a small E[T|v]."""
    return (barrier * choice / true_time - diff).square().mean()
