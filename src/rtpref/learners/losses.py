"""Losses as pure functions of tensors. ``barrier`` is a in the DDM.

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


def _mean(squares: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    return squares.mean() if weight is None else (weight * squares).mean()


def orthogonal_loss(
    diff: torch.Tensor,
    choice: torch.Tensor,
    response_time: torch.Tensor,
    time_hat: torch.Tensor,
    diff_hat: torch.Tensor,
    barrier: float = 1.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """mean[w (Y - (T - t_hat) diff_hat / a - (diff / a) t_hat)^2], Neyman-orthogonal in both
    nuisances (t_hat, diff_hat); ``weight`` w defaults to 1."""
    residual = choice - (response_time - time_hat) * diff_hat / barrier - diff / barrier * time_hat
    return _mean(residual.square(), weight)


def nonorthogonal_loss(
    diff: torch.Tensor,
    choice: torch.Tensor,
    time_hat: torch.Tensor,
    barrier: float = 1.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """mean[w (Y - (diff / a) t_hat)^2]: first-order sensitive to errors in t_hat."""
    return _mean((choice - diff / barrier * time_hat).square(), weight)


def inverse_time_weights(time_hat: torch.Tensor, barrier: float = 1.0) -> torch.Tensor:
    """Per-pair weights 1 / max(t_hat, 0.05 a^2), unnormalised.

    The residual of the response-time losses has a variance that shrinks with E[T|v] (for
    large |v| roughly like E[T|v] / a^2), so dividing each squared error by t_hat is a
    variance weighting; the clip keeps a near-zero t_hat from dominating.
    """
    return 1.0 / time_hat.clamp(min=0.05 * barrier * barrier)


def squared_error(diff: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean[(diff - target)^2]: regression of the predicted difference on a known target."""
    return functional.mse_loss(diff, target)


def known_mean_time_loss(
    diff: torch.Tensor, choice: torch.Tensor, true_time: torch.Tensor, barrier: float = 1.0
) -> torch.Tensor:
    """mean[(a Y / E[T|v] - diff)^2] with the true E[T|v]: the identity v = a E[Y|v] / E[T|v]
    as a regression in reward units, so no pair is down-weighted by a small E[T|v]."""
    return (barrier * choice / true_time - diff).square().mean()
