"""The two-stage response-time learners: orthogonal, non-orthogonal and cross-fitted.

Stage 1 fits the nuisances on the fit rows: t_hat, the mean decision time E[T - t0 | x1, x2]
(squared error, with the network ``time_net`` names in ``TIME_NETS``), and, for the
orthogonal losses, r_hat by the choice log-loss. Stage 2 fits the reward network g on a
response-time loss built from those nuisances, optionally weighted by inverse predicted time.
Each stage keeps its best validation epoch (see ``rtpref.learners.base``).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import torch

from rtpref.learners import losses
from rtpref.learners.base import (
    PREDICT_BATCH,
    PairwiseLearner,
    Tensors,
    batched,
    predict_diff,
    take_rows,
    validation_split,
)
from rtpref.learners.loop import stage_seed
from rtpref.learners.networks import ModelShapedTimeNet, RewardNet, SiameseTimeNet, TimeNet

__all__ = [
    "STAGE2_WEIGHTINGS",
    "TIME_NETS",
    "CrossFitOrthogonalLearner",
    "NonOrthogonalLearner",
    "OrthogonalLearner",
]

TIME_NETS = {"siamese": SiameseTimeNet, "concat": TimeNet, "model_shaped": ModelShapedTimeNet}
STAGE2_WEIGHTINGS = ("none", "inverse_time")


@dataclasses.dataclass(kw_only=True)
class _TwoStageLearner(PairwiseLearner):
    """Stage 1 fits t_hat ~ E[T - t0 | x1, x2] by squared error (and, if the loss needs it,
    r_hat by log-loss); stage 2 fits g on a response-time loss with those nuisances."""

    stage1_epochs: int = 100
    stage2_epochs: int = 100
    time_net: str = "siamese"
    stage2_weighting: str = "none"

    needs_reward_nuisance: ClassVar[bool] = True

    def _check_options(self) -> None:
        super()._check_options()
        if self.time_net not in TIME_NETS:
            raise ValueError(f"time_net={self.time_net!r}; choose from {sorted(TIME_NETS)}")
        if self.stage2_weighting not in STAGE2_WEIGHTINGS:
            raise ValueError(
                f"stage2_weighting={self.stage2_weighting!r}; choose from {STAGE2_WEIGHTINGS}"
            )

    def _new_time_net(self, dim: int, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        shape = (dim, tuple(self.hidden), self.dropout, self.batch_norm)
        if self.time_net == "model_shaped":
            net = ModelShapedTimeNet(*shape, barrier=self.barrier)
        else:
            net = TIME_NETS[self.time_net](*shape)
        return net.to(torch.device(self.device))

    def _fit_nuisances(
        self, fit: Tensors, validation: Tensors | None, prefix: str, seed: int
    ) -> None:
        """Stage 1 on ``fit`` (selected on ``validation``); the nets are appended to
        ``time_nets_`` and ``stage1_reward_nets_``."""
        time_seed = stage_seed(seed, "time")
        time_net = self._new_time_net(fit["x1"].shape[1], time_seed)

        def time_loss(batch):
            return losses.time_mse(time_net(batch["x1"], batch["x2"]), batch["response_time"])

        self._stage(
            f"{prefix}stage1_time",
            time_net,
            time_loss,
            fit,
            validation,
            self.stage1_epochs,
            time_seed,
        )
        self.time_nets_.append(time_net)
        if self.needs_reward_nuisance:
            self.stage1_reward_nets_.append(
                self._fit_reward_net(
                    f"{prefix}stage1_reward",
                    self.hidden,
                    self.stage1_epochs,
                    self._choice_loss,
                    fit,
                    validation,
                    stage_seed(seed, "reward"),
                )
            )

    def _with_nuisances(self, tensors: Tensors, nets: slice = slice(None)) -> Tensors:
        """``tensors`` plus t_hat (and diff_hat), averaged over the selected stage-1 nets."""
        out = dict(tensors)
        out["time_hat"] = torch.stack(
            [_predict_time(net, tensors["x1"], tensors["x2"]) for net in self.time_nets_[nets]]
        ).mean(0)
        if self.needs_reward_nuisance:
            diffs = [
                torch.from_numpy(self._nuisance_diff(net, tensors)).float()
                for net in self.stage1_reward_nets_[nets]
            ]
            out["diff_hat"] = torch.stack(diffs).mean(0).to(out["time_hat"].device)
        return out

    def _nuisance_diff(self, net: RewardNet, tensors: Tensors) -> np.ndarray:
        return predict_diff(net, tensors["x1"], tensors["x2"])

    def _stage1(self, fit: Tensors, validation: Tensors | None) -> tuple[Tensors, Tensors | None]:
        self._fit_nuisances(fit, validation, "", self.seed)
        stage2_validation = None if validation is None else self._with_nuisances(validation)
        return self._with_nuisances(fit), stage2_validation

    def _fit(self, fit: Tensors, validation: Tensors | None) -> RewardNet:
        self.time_nets_: list[torch.nn.Module] = []
        self.stage1_reward_nets_: list[RewardNet] = []
        fit, validation = self._stage1(fit, validation)
        if self.stage2_weighting == "inverse_time":
            # Normalised on the fit rows, so the learning rate means the same as unweighted.
            scale = losses.inverse_time_weights(fit["time_hat"], self.barrier).mean()
            for part in (fit, validation):
                if part is not None:
                    part["weight"] = (
                        losses.inverse_time_weights(part["time_hat"], self.barrier) / scale
                    )
        return self._fit_reward_net(
            "stage2",
            self.hidden,
            self.stage2_epochs,
            self._stage2_loss,
            fit,
            validation,
            stage_seed(self.seed, "stage2"),
        )

    def _stage2_loss(self, diff: torch.Tensor, batch) -> torch.Tensor:
        weight = batch.get("weight")
        barrier = self._barrier_of(batch)
        if self.needs_reward_nuisance:
            return losses.orthogonal_loss(
                diff,
                batch["choice"],
                batch["response_time"],
                batch["time_hat"],
                batch["diff_hat"],
                barrier,
                weight,
            )
        return losses.nonorthogonal_loss(diff, batch["choice"], batch["time_hat"], barrier, weight)

    # -- nuisance predictions (averaged over the cross-fitting folds' nets) ----------------
    def predict_time(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        """Stage-1 t_hat, the predicted mean decision time E[T - t0 | x1, x2]."""
        self._fitted()
        return np.mean(
            [batched(lambda a, b, n=net: n(a, b), net, x1, x2) for net in self.time_nets_], 0
        )

    def predict_stage1_diff(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray | None:
        """Stage-1 r_hat(x1) - r_hat(x2) (None when the learner has no reward nuisance)."""
        self._fitted()
        if not self.stage1_reward_nets_:
            return None
        return np.mean([predict_diff(net, x1, x2) for net in self.stage1_reward_nets_], 0)


@torch.no_grad()
def _predict_time(net: torch.nn.Module, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    net.eval()
    parts = [
        net(x1[s : s + PREDICT_BATCH], x2[s : s + PREDICT_BATCH])
        for s in range(0, x1.shape[0], PREDICT_BATCH)
    ]
    return torch.cat(parts)


@dataclasses.dataclass(kw_only=True)
class OrthogonalLearner(_TwoStageLearner):
    """Stage 2: mean[(Y - (T - t_hat) diff_hat / a - (diff / a) t_hat)^2], Neyman-orthogonal
    in (t_hat, diff_hat); both nuisances fitted on the same rows as stage 2."""

    algorithm: ClassVar[str] = "orthogonal"


@dataclasses.dataclass(kw_only=True)
class NonOrthogonalLearner(_TwoStageLearner):
    """Stage 2: mean[(Y - (diff / a) t_hat)^2], first-order sensitive to errors in t_hat."""

    algorithm: ClassVar[str] = "nonorthogonal"
    needs_reward_nuisance: ClassVar[bool] = False


@dataclasses.dataclass(kw_only=True)
class CrossFitOrthogonalLearner(_TwoStageLearner):
    """The orthogonal loss with cross-fitted nuisances: the fit rows are cut into
    ``crossfit_folds`` folds and each fold's t_hat, diff_hat come from nets fitted (and
    selected on a validation part) on the other folds."""

    crossfit_folds: int = 2
    algorithm: ClassVar[str] = "orthogonal_crossfit"

    def _stage1(self, fit: Tensors, validation: Tensors | None) -> tuple[Tensors, Tensors | None]:
        rows, folds = fit["x1"].shape[0], self.crossfit_folds
        if folds < 2 or folds > rows:
            raise ValueError(
                f"{self._name()}: crossfit_folds={folds} needs 2 <= folds <= rows ({rows})"
            )
        assignment = np.random.default_rng(stage_seed(self.seed, "folds")).permutation(rows)
        assignment %= folds
        parts = []
        for fold in range(folds):
            fold_seed = stage_seed(self.seed, f"fold{fold}")
            rest = take_rows(fit, np.flatnonzero(assignment != fold))
            rest_fit, rest_validation = rest, None
            if validation is not None:
                inner_fit, inner_validation = validation_split(
                    rest["x1"].shape[0],
                    self.validation_fraction,
                    stage_seed(fold_seed, "validation"),
                )
                rest_fit, rest_validation = (
                    take_rows(rest, inner_fit),
                    take_rows(rest, inner_validation),
                )
            self._fit_nuisances(rest_fit, rest_validation, f"fold{fold + 1}_", fold_seed)
            held_out = np.flatnonzero(assignment == fold)
            parts.append(
                (held_out, self._with_nuisances(take_rows(fit, held_out), slice(-1, None)))
            )
        combined = dict(fit)
        for name in parts[0][1]:
            if name in fit:
                continue
            values = torch.empty(rows, device=fit["x1"].device)
            for held_out, part in parts:
                values[torch.from_numpy(held_out).to(values.device)] = part[name]
            combined[name] = values
        # Validation rows were used by no fold: their nuisances average all folds' nets.
        return combined, None if validation is None else self._with_nuisances(validation)
