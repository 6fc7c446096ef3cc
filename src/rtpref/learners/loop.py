"""The one training loop every learner uses: tensors in memory, batches by permutation, and
model selection on held-out validation rows (early stopping, best epoch kept)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

# Devices with a fused Adam kernel in torch (elsewhere the default implementation is used).
FUSED_ADAM_DEVICES = ("cpu", "cuda")
# Rows per batch when evaluating the validation loss: no gradients, so large batches are cheap.
VALIDATION_BATCH = 8192
# Significant digits of each recorded validation-curve point (the curve is a diagnostic).
CURVE_DIGITS = 5

BatchLoss = Callable[[Mapping[str, torch.Tensor]], torch.Tensor]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the run and the stage."""


@dataclasses.dataclass(frozen=True)
class Optimisation:
    """How one stage is optimised: Adam settings, batch size, and early stopping.

    ``patience`` is the number of epochs without a better validation loss after which the stage
    stops; None trains the whole budget (the best validation epoch is still kept when there
    are validation rows).
    """

    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    batch_norm: bool = False
    patience: int | None = 10


@dataclasses.dataclass(frozen=True)
class StageRecord:
    """What model selection did in one stage (recorded per stage in metrics.json)."""

    epochs_run: int
    epochs_chosen: int
    best_validation_loss: float | None
    validation_curve: list[float]
    # The validation loss before any training (stages that may keep their starting point).
    initial_validation_loss: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def stage_seed(seed: int, stage: str) -> int:
    """An independent, reproducible seed per (run seed, stage name)."""
    words = [seed, *stage.encode()]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> 1)


@torch.no_grad()
def mean_loss(
    model: nn.Module, batch_loss: BatchLoss, tensors: Mapping[str, torch.Tensor]
) -> float:
    """``batch_loss`` averaged over all rows of ``tensors``, in eval mode and large batches.

    Every loss here is a mean over rows, so the row-weighted mean of batch means is exact.
    """
    model.eval()
    rows = next(iter(tensors.values())).shape[0]
    total = 0.0
    for start in range(0, rows, VALIDATION_BATCH):
        batch = {name: values[start : start + VALIDATION_BATCH] for name, values in tensors.items()}
        total += float(batch_loss(batch)) * next(iter(batch.values())).shape[0]
    return total / max(rows, 1)


def _compact(value: float) -> float:
    return float(f"{value:.{CURVE_DIGITS}g}")


def train(
    model: nn.Module,
    batch_loss: BatchLoss,
    tensors: Mapping[str, torch.Tensor],
    max_epochs: int,
    optimisation: Optimisation,
    seed: int,
    label: str,
    validation: Mapping[str, torch.Tensor] | None = None,
    include_initial: bool = False,
) -> StageRecord:
    """Minimise ``batch_loss`` with Adam for up to ``max_epochs`` epochs.

    With ``validation`` rows, the same loss is evaluated on them after every epoch; training
    stops after ``optimisation.patience`` epochs without improvement and the model is left
    with the parameters of its best validation epoch. Without, the last epoch is kept.
    ``model`` must have been built under ``torch.manual_seed`` by the caller; the batch order
    and dropout masks here come from ``seed``, so the result is a function of the inputs.
    ``include_initial`` makes the untrained model a candidate too ("epoch 0", chosen when no
    epoch beats it on the validation rows).
    """
    rows = next(iter(tensors.values())).shape[0]
    device = next(model.parameters()).device
    order_generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    # The fused kernel updates every parameter in one pass; torch's default on CPU is a Python
    # loop of elementwise ops per tensor, which took ~40 % of an epoch of the reference network.
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=optimisation.learning_rate,
        weight_decay=optimisation.weight_decay,
        fused=device.type in FUSED_ADAM_DEVICES,
    )
    # Batch-norm cannot normalise a batch of one row; such a trailing batch is skipped.
    min_batch = 2 if optimisation.batch_norm else 1
    batch_size = optimisation.batch_size
    curve: list[float] = []
    best_loss, best_epoch, best_state = float("inf"), 0, None
    initial_loss = None
    if include_initial and validation is not None:
        initial_loss = mean_loss(model, batch_loss, validation)
        log.info("%s: epoch 0 validation %.6f", label, initial_loss)
        if np.isfinite(initial_loss):
            best_loss = initial_loss
            best_state = {key: value.detach().clone() for key, value in model.state_dict().items()}
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        model.train()
        permutation = torch.randperm(rows, generator=order_generator).to(device)
        total = torch.zeros((), device=device)
        seen = 0
        for start in range(0, rows, batch_size):
            batch_rows = permutation[start : start + batch_size]
            if batch_rows.numel() < min_batch:
                continue
            batch = {name: values[batch_rows] for name, values in tensors.items()}
            loss = batch_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * batch_rows.numel()
            seen += batch_rows.numel()
        train_loss = float(total) / max(seen, 1)
        if not np.isfinite(train_loss):
            raise TrainingDiverged(
                f"{label}: loss became {train_loss} in epoch {epoch}/{max_epochs}"
            )
        if validation is None:
            log.info("%s: epoch %d/%d loss %.6f", label, epoch, max_epochs, train_loss)
            continue
        validation_loss = mean_loss(model, batch_loss, validation)
        curve.append(_compact(validation_loss))
        log.info(
            "%s: epoch %d/%d loss %.6f validation %.6f",
            label,
            epoch,
            max_epochs,
            train_loss,
            validation_loss,
        )
        if validation_loss < best_loss:
            best_loss, best_epoch = validation_loss, epoch
            best_state = {key: value.detach().clone() for key, value in model.state_dict().items()}
        elif optimisation.patience is not None and epoch - best_epoch >= optimisation.patience:
            break
    model.eval()
    if validation is None:
        return StageRecord(epoch, epoch, None, curve)
    if best_state is None:
        raise TrainingDiverged(f"{label}: the validation loss was never finite")
    model.load_state_dict(best_state)
    initial = None if initial_loss is None else _compact(initial_loss)
    return StageRecord(epoch, best_epoch, best_loss, curve, initial)
