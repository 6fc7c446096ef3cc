"""The learners as estimators: options in the constructor, ``fit(pairs)``, then predictions.

Every learner holds out ``validation_fraction`` of the rows it is given (seeded), trains each
of its stages for up to its epoch budget, and keeps the parameters of the stage's best
validation epoch, judged by the stage's own loss on the held-out rows (early stopping with
``patience``). Fitted attributes end in ``_``: ``reward_net_`` (the reward network g, a
``RewardNet``), ``selection_`` (per stage: epochs run and chosen, best validation loss,
validation curve) and, for the response-time learners, the stage-1 networks.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar, Self

import numpy as np
import torch

from rtpref.data import Pairs
from rtpref.learners import losses
from rtpref.learners.loop import (
    BatchLoss,
    Optimisation,
    StageRecord,
    TrainingDiverged,
    mean_loss,
    stage_seed,
    train,
)
from rtpref.learners.networks import ModelShapedTimeNet, RewardNet, SiameseTimeNet, TimeNet
from rtpref.names import ALGORITHMS, LEARNERS, constructor_arguments

log = logging.getLogger(__name__)

__all__ = [
    "LEARNER_CLASSES",
    "CrossFitOrthogonalLearner",
    "LogLossLearner",
    "NonOrthogonalLearner",
    "OrthogonalLearner",
    "PairwiseLearner",
    "TrainingDiverged",
    "make_learner",
    "predict_diff",
    "validation_split",
]

PREDICT_BATCH = 8192
TIME_NETS = {"siamese": SiameseTimeNet, "concat": TimeNet, "model_shaped": ModelShapedTimeNet}
STAGE2_WEIGHTINGS = ("none", "inverse_time")
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


def _take(tensors: Tensors, rows: np.ndarray) -> Tensors:
    index = torch.from_numpy(rows).to(next(iter(tensors.values())).device)
    return {name: values[index] for name, values in tensors.items()}


@torch.no_grad()
def predict_diff(
    net: RewardNet, x1: np.ndarray | torch.Tensor, x2: np.ndarray | torch.Tensor
) -> np.ndarray:
    """g(x1) - g(x2) in eval mode, in batches, as float64 numpy."""
    return _batched(lambda a, b: net.pair_diff(a, b), net, x1, x2)


@torch.no_grad()
def _batched(function, net: torch.nn.Module, *arrays) -> np.ndarray:
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
        fit = _take(tensors, fit_rows)
        validation = None if validation_rows is None else _take(tensors, validation_rows)
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
    ) -> None:
        label = f"{self._name()} {stage}"
        self.selection_[stage] = train(
            net, batch_loss, fit, epochs, self._optimisation(), seed, label, validation
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
        return _batched(lambda items: net(items), net, x)

    def predict_diff(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        """g(x1) - g(x2) per pair (float64), antisymmetric by construction."""
        return predict_diff(self._fitted(), x1, x2)


@dataclasses.dataclass(kw_only=True)
class LogLossLearner(PairwiseLearner):
    """Bradley-Terry on the choices alone: minimise the log-loss of sigmoid(2 a diff)."""

    epochs: int = 100
    algorithm: ClassVar[str] = "log_loss"

    def _fit(self, fit: Tensors, validation: Tensors | None) -> RewardNet:
        return self._fit_reward_net(
            "log_loss",
            self.hidden,
            self.epochs,
            self._choice_loss,
            fit,
            validation,
            stage_seed(self.seed, "log_loss"),
        )


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
            [_batched(lambda a, b, n=net: n(a, b), net, x1, x2) for net in self.time_nets_], 0
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
            rest = _take(fit, np.flatnonzero(assignment != fold))
            rest_fit, rest_validation = rest, None
            if validation is not None:
                inner_fit, inner_validation = validation_split(
                    rest["x1"].shape[0],
                    self.validation_fraction,
                    stage_seed(fold_seed, "validation"),
                )
                rest_fit, rest_validation = _take(rest, inner_fit), _take(rest, inner_validation)
            self._fit_nuisances(rest_fit, rest_validation, f"fold{fold + 1}_", fold_seed)
            held_out = np.flatnonzero(assignment == fold)
            parts.append((held_out, self._with_nuisances(_take(fit, held_out), slice(-1, None))))
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


LEARNER_CLASSES: dict[str, type[PairwiseLearner]] = {
    cls.algorithm: cls
    for cls in (LogLossLearner, OrthogonalLearner, NonOrthogonalLearner, CrossFitOrthogonalLearner)
}
assert tuple(LEARNER_CLASSES) == LEARNERS


def make_learner(algorithm: str, training: dict[str, Any], **arguments: Any) -> PairwiseLearner:
    """The estimator of ``algorithm`` from the config's ``training`` block; ``arguments``
    (barrier, non_decision_time, seed, device, label) are passed on as they are."""
    from rtpref.learners.personalized import PERSONALIZED_CLASSES
    from rtpref.learners.references import REFERENCE_CLASSES

    classes = {**LEARNER_CLASSES, **REFERENCE_CLASSES, **PERSONALIZED_CLASSES}
    if algorithm not in classes:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose from {list(ALGORITHMS)}")
    return classes[algorithm](**constructor_arguments(algorithm, training), **arguments)
