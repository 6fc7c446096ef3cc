"""Reference lines for simulated data: estimators that read the true rewards of their
training rows. They bound what a learner can reach and are not learners a user can run on
recorded data (``fit`` refuses pairs without finite true rewards).

- ``noise_free_floor``: regress the true v = r(x1) - r(x2) itself (squared error). No choice
  or response-time noise at all: the floor set by the network, the budget and n.
- ``orthogonal_true_nuisances``: the orthogonal loss with the true nuisances t = E[T|v] and
  diff_hat = v, i.e. what the orthogonal learner converges to when its stage 1 is perfect.
- ``known_mean_time``: regress a Y / E[T|v] on the predicted difference, with the true E[T|v]
  (the identity v = a E[Y|v] / E[T|v] as a regression in reward units).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import torch

from rtpref import ddm
from rtpref.data import DataError, Pairs
from rtpref.learners import losses
from rtpref.learners.base import PairwiseLearner, Tensors
from rtpref.learners.loop import stage_seed
from rtpref.learners.networks import RewardNet
from rtpref.names import REFERENCE_LINES


@dataclasses.dataclass(kw_only=True)
class _ReferenceLine(PairwiseLearner):
    epochs: int = 100

    def _tensors(self, pairs: Pairs) -> Tensors:
        drift = pairs.reward_diff
        if not np.all(np.isfinite(drift)):
            raise DataError(
                f"{self._name()}: the reference line {self.algorithm!r} needs the true rewards "
                "of every training pair (simulated data only)"
            )
        tensors = super()._tensors(pairs)
        device = tensors["x1"].device
        tensors["true_diff"] = torch.from_numpy(drift.astype(np.float32)).to(device)
        true_time = ddm.mean_time(drift, self.barrier).astype(np.float32)
        tensors["true_time"] = torch.from_numpy(true_time).to(device)
        return tensors

    def _fit(self, fit: Tensors, validation: Tensors | None) -> RewardNet:
        return self._fit_reward_net(
            "reference",
            self.hidden,
            self.epochs,
            self._loss,
            fit,
            validation,
            stage_seed(self.seed, "stage2"),
        )

    def _loss(self, diff: torch.Tensor, batch) -> torch.Tensor:
        raise NotImplementedError


@dataclasses.dataclass(kw_only=True)
class NoiseFreeFloor(_ReferenceLine):
    algorithm: ClassVar[str] = "noise_free_floor"

    def _loss(self, diff: torch.Tensor, batch) -> torch.Tensor:
        return losses.squared_error(diff, batch["true_diff"])


@dataclasses.dataclass(kw_only=True)
class OrthogonalTrueNuisances(_ReferenceLine):
    algorithm: ClassVar[str] = "orthogonal_true_nuisances"

    def _loss(self, diff: torch.Tensor, batch) -> torch.Tensor:
        return losses.orthogonal_loss(
            diff,
            batch["choice"],
            batch["response_time"],
            batch["true_time"],
            batch["true_diff"],
            self.barrier,
        )


@dataclasses.dataclass(kw_only=True)
class KnownMeanTime(_ReferenceLine):
    algorithm: ClassVar[str] = "known_mean_time"

    def _loss(self, diff: torch.Tensor, batch) -> torch.Tensor:
        return losses.known_mean_time_loss(diff, batch["choice"], batch["true_time"], self.barrier)


REFERENCE_CLASSES: dict[str, type[PairwiseLearner]] = {
    cls.algorithm: cls for cls in (NoiseFreeFloor, OrthogonalTrueNuisances, KnownMeanTime)
}
assert tuple(REFERENCE_CLASSES) == REFERENCE_LINES
