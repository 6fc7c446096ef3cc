"""The base of every learner: ``PairwiseLearner`` and the helpers its stages share.

Every learner holds out ``validation_fraction`` of the rows it is given (seeded), trains each
of its stages for up to its epoch budget, and keeps the parameters of the stage's best
validation epoch, judged by the stage's own loss on the held-out rows (early stopping with
``patience``). Fitted attributes end in ``_``: ``reward_net_`` (the reward network g, a
``RewardNet``), ``selection_`` (per stage: epochs run and chosen, best validation loss,
validation curve) and, for the response-time learners, the stage-1 networks.

Also here: the seeded validation split, row selection of tensor dicts, and batched
eval-mode prediction (``predict_diff``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, Self

import numpy as np
import torch

from rtpref.data import Pairs
from rtpref.learners import losses
from rtpref.learners.loop import (
    BatchLoss,
    Optimisation,
    StageRecord,
    mean_loss,
    stage_seed,
    train,
)
from rtpref.learners.networks import RewardNet

__all__ = [
    "PREDICT_BATCH",
    "PairwiseLearner",
    "Tensors",
    "batched",
    "predict_diff",
    "take_rows",
    "validation_split",
]

PREDICT_BATCH = 8192
Tensors = dict[str, torch.Tensor]


def validation_split(rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(fit rows, validation rows) of ``rows``: a seeded ``fraction`` held out (None if 0)."""
    if fraction == 0:
        return np.arange(rows), None
    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}")
    held_out = int(round(fraction * rows))
    if held_out < 1 or rows - held_out < 2:
        raise ValueError(
            f"validation_fraction={fraction} of {rows} rows leaves {held_out} validation and "
            f"{rows - held_out} fit rows; use more rows or another fraction"
        )
    permutation = np.random.default_rng(seed).permutation(rows)
    return np.sort(permutation[held_out:]), np.sort(permutation[:held_out])


def take_rows(tensors: Tensors, rows: np.ndarray) -> Tensors:
    """The given ``rows`` of every tensor."""
    index = torch.from_numpy(rows).to(next(iter(tensors.values())).device)
    return {name: values[index] for name, values in tensors.items()}


@torch.no_grad()
def predict_diff(
    net: RewardNet, x1: np.ndarray | torch.Tensor, x2: np.ndarray | torch.Tensor
) -> np.ndarray:
    """g(x1) - g(x2) in eval mode, in batches, as float64 numpy."""
    return batched(lambda a, b: net.pair_diff(a, b), net, x1, x2)


@torch.no_grad()
def batched(
    function: Callable[..., torch.Tensor], net: torch.nn.Module, *arrays: Any
) -> np.ndarray:
    """``function`` of ``arrays`` in eval mode, in batches of rows, as float64 numpy."""
    net.eval()
    device = next(net.parameters()).device
    out = []
    for start in range(0, len(arrays[0]), PREDICT_BATCH):
        parts = [torch.as_tensor(a[start : start + PREDICT_BATCH], device=device) for a in arrays]
        out.append(function(*parts).double().cpu())
    return torch.cat(out).numpy() if out else np.empty(0)


@dataclasses.dataclass(kw_only=True)
class PairwiseLearner:
    """Options shared by every learner (see the module docstring for what ``fit`` does).

    ``non_decision_time`` t0 is subtracted from every response time before fitting (the
    learners model the decision time T - t0); ``barrier`` is the DDM barrier a.
    """

    hidden: tuple[int, ...] = (64, 64)
    dropout: float = 0.0
    batch_norm: bool = False
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    validation_fraction: float = 0.2
    patience: int | None = 10
    barrier: float = 1.0
    non_decision_time: float = 0.0
    seed: int = 0
    device: str = "cpu"
    label: str = ""

    algorithm: ClassVar[str] = ""

    def get_params(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    # -- fitting -------------------------------------------------------------------------
    def fit(self, pairs: Pairs) -> Self:
        """Fit on ``pairs`` (choices, response times, features); returns ``self``."""
        self._check_options()
        tensors = self._tensors(pairs)
        fit_rows, validation_rows = validation_split(
            len(pairs), self.validation_fraction, stage_seed(self.seed, "validation")
        )
        fit = take_rows(tensors, fit_rows)
        validation = None if validation_rows is None else take_rows(tensors, validation_rows)
        self.selection_: dict[str, StageRecord] = {}
        self.reward_net_ = self._fit(fit, validation)
        self.validation_rows_ = 0 if validation_rows is None else int(validation_rows.size)
        self.validation_choice_log_loss_ = (
            None
            if validation is None
            else mean_loss(
                self.reward_net_,
                lambda batch: losses.log_loss(
                    self._pair_diff(self.reward_net_, batch),
                    batch["choice"],
                    self._barrier_of(batch),
                ),
                validation,
            )
        )
        return self

    def _fit(self, fit: Tensors, validation: Tensors | None) -> RewardNet:
        raise NotImplementedError

    def _check_options(self) -> None:
        if self.barrier <= 0:
            raise ValueError(f"{self._name()}: barrier must be > 0, got {self.barrier}")
        if self.non_decision_time < 0:
            raise ValueError(
                f"{self._name()}: non_decision_time must be >= 0, got {self.non_decision_time}"
            )
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"{self._name()}: patience must be >= 1 or None")

    def _name(self) -> str:
        return self.label or f"{self.algorithm} seed{self.seed}"

    def _tensors(self, pairs: Pairs) -> Tensors:
        device = torch.device(self.device)
        decision_time = pairs.response_time - self.non_decision_time
        return {
            "x1": torch.from_numpy(pairs.x1).to(device),
            "x2": torch.from_numpy(pairs.x2).to(device),
            "choice": torch.from_numpy(pairs.choice.astype(np.float32)).to(device),
            "response_time": torch.from_numpy(decision_time.astype(np.float32)).to(device),
        }

    def _optimisation(self) -> Optimisation:
        return Optimisation(
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            batch_norm=self.batch_norm,
            patience=self.patience,
        )

    def _stage(
        self,
        stage: str,
        net: torch.nn.Module,
        batch_loss: BatchLoss,
        fit: Tensors,
        validation: Tensors | None,
        epochs: int,
        seed: int,
        include_initial: bool = False,
    ) -> None:
        label = f"{self._name()} {stage}"
        self.selection_[stage] = train(
            net,
            batch_loss,
            fit,
            epochs,
            self._optimisation(),
            seed,
            label,
            validation,
            include_initial=include_initial,
        )

    def _new_reward_net(self, hidden: tuple[int, ...], dim: int, seed: int) -> RewardNet:
        torch.manual_seed(seed)
        net = RewardNet(dim, tuple(hidden), self.dropout, self.batch_norm)
        return net.to(torch.device(self.device))

    def _fit_reward_net(
        self,
        stage: str,
        hidden: tuple[int, ...],
        epochs: int,
        loss_of,
        fit: Tensors,
        validation: Tensors | None,
        seed: int,
    ) -> RewardNet:
        """One reward network trained on ``loss_of(pair difference, batch)``."""
        net = self._new_reward_net(hidden, fit["x1"].shape[1], seed)

        def batch_loss(batch):
            return loss_of(self._pair_diff(net, batch), batch)

        self._stage(stage, net, batch_loss, fit, validation, epochs, seed)
        return net

    # Hooks for learners with users (rtpref.learners.personalized): how a batch's pair
    # difference is computed, and its barrier (one global a, or a per-row tensor).
    def _pair_diff(self, net: torch.nn.Module, batch: Tensors) -> torch.Tensor:
        return net.pair_diff(batch["x1"], batch["x2"])

    def _barrier_of(self, batch: Tensors) -> float | torch.Tensor:
        return self.barrier

    def _choice_loss(self, diff: torch.Tensor, batch: Tensors) -> torch.Tensor:
        return losses.log_loss(diff, batch["choice"], self._barrier_of(batch))

    # -- prediction ----------------------------------------------------------------------
    def _fitted(self) -> RewardNet:
        if not hasattr(self, "reward_net_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit(pairs)")
        return self.reward_net_

    def predict_reward(self, x: np.ndarray) -> np.ndarray:
        """g(x) per row of ``x`` (float64); only differences of g are identified."""
        net = self._fitted()
        return batched(lambda items: net(items), net, x)

    def predict_diff(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        """g(x1) - g(x2) per pair (float64), antisymmetric by construction."""
        return predict_diff(self._fitted(), x1, x2)
