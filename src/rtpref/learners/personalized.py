"""User-conditioned learners: g(x, u) = g0(x) + <E_u, h(x)> with learned user embeddings.

Every learner of ``rtpref.learners.estimators`` has a personalized twin here
(``PersonalizedLogLossLearner`` etc.) that needs ``Pairs.user_id``. Each reward network a
learner fits (the stage-1 reward nuisance and the stage-2 reward, or the log-loss reward) is
fitted in two steps on the same rows and with the same loss:

1. the population model g0 with the users hidden, exactly as the global learner fits it
   (same seed, same stage name), selected on the held-out rows;
2. the user deltas <E_u, h(x)> on top of the frozen g0: E starts at zero (so training starts
   at g0), h is a separate rank-k network, and the held-out rows choose the epoch, where
   "epoch 0" (no deltas at all) is one of the candidates.

A user never seen in training (or ``user_id=None`` at prediction) gets E = 0, i.e. g0. Fitting
g0 first is what makes personalization safe: an unseen user gets the population model and
not a base that learned to leave part of the reward to the embeddings, and when users do not
differ the held-out rows keep the deltas near zero. (Training g0 and E jointly, with random
user dropout, left the base worse than the global model on unseen users when users did not
differ.) The pair score g(x1, u) - g(x2, u) stays antisymmetric because both items go through
the same network with the same user.

The response-time learners can also use one barrier per user (``per_user_barrier``): after
stage 1, a_u is estimated from the user's response times and the stage-1 reward difference
(``rtpref.users.estimate_barriers``, shrunk toward the population value unless
``barrier_shrinkage`` is off) and rescaled so that the population value is the global a (the
data give each user's caution relative to the others; the level stays the configured a).
With ``per_user_non_decision`` the user's non-decision time t0_u is estimated too, jointly
with a_u by maximum likelihood of the user's response times (``rtpref.users.estimate_user_ddm``),
and each row's decision time becomes T - t0_u. Stage 2 then divides by a_u instead of the
global a, and the pooled t_hat is multiplied by a per-user time scale (sum of T over sum of
t_hat on the user's rows, with a prior of ``TIME_PRIOR_PAIRS`` pairs at the population ratio).
The time network itself is not personalized.

``embedding_decay`` is an L2 prior on each user's embedding, applied at every step whatever the
user's share of the batches, so users with few pairs stay near the base model.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from rtpref.data import DataError, Pairs
from rtpref.learners.base import PairwiseLearner, Tensors, batched
from rtpref.learners.estimators import (
    CrossFitOrthogonalLearner,
    LogLossLearner,
    NonOrthogonalLearner,
    OrthogonalLearner,
)
from rtpref.learners.loop import stage_seed
from rtpref.learners.networks import UNSEEN, RewardNet, UserRewardNet, mlp
from rtpref.users import embedding_rows, estimate_barriers, estimate_user_ddm

__all__ = [
    "PERSONALIZED_CLASSES",
    "PersonalizedCrossFitOrthogonalLearner",
    "PersonalizedLogLossLearner",
    "PersonalizedNonOrthogonalLearner",
    "PersonalizedOrthogonalLearner",
    "UserRewardNet",
]

# Pseudo-pairs at the population ratio in each user's response-time scale (see _time_scales).
TIME_PRIOR_PAIRS = 20.0


def new_user_reward_net(
    base: RewardNet,
    in_dim: int,
    hidden: tuple[int, ...],
    dropout: float,
    batch_norm: bool,
    users: int,
    rank: int,
    embedding_decay: float = 0.0,
) -> UserRewardNet:
    """A UserRewardNet to train on top of ``base``: h a fresh mlp to rank k, and ``users``
    rows of E plus the zero row ``UNSEEN``, all starting at zero."""
    features = mlp(in_dim, hidden, dropout, batch_norm, scalar=False)
    features.append(nn.Linear(hidden[-1] if hidden else in_dim, rank))
    # Zero embeddings: training starts exactly at g0 (h still gets gradients once E moves).
    embeddings = nn.Embedding(users + 1, rank, padding_idx=UNSEEN)
    nn.init.zeros_(embeddings.weight)
    if embedding_decay > 0:
        # An L2 prior per user (the gradient of decay/2 ||E||^2 at every step, whatever the
        # user's share of the batches): users with few pairs stay near the base g0.
        weight = embeddings.weight
        weight.register_hook(lambda grad: grad + embedding_decay * weight.detach())
    return UserRewardNet(base, features, embeddings)


@dataclasses.dataclass(kw_only=True)
class _Personalized(PairwiseLearner):
    """User embeddings for any learner; see the module docstring."""

    rank: int = 4
    embedding_decay: float = 0.01
    per_user_barrier: bool = False
    per_user_non_decision: bool = False
    barrier_shrinkage: bool = True

    personalized: ClassVar[bool] = True

    def fit(self, pairs: Pairs) -> _Personalized:
        if pairs.user_id is None:
            raise DataError(
                f"{self._name()}: a personalized learner needs a user_id column; "
                "turn users on (config `users`) or use the global learner"
            )
        if self.rank < 1:
            raise ValueError(f"{self._name()}: rank must be >= 1, got {self.rank}")
        if self.per_user_non_decision and not self.per_user_barrier:
            raise ValueError(
                f"{self._name()}: per_user_non_decision needs per_user_barrier "
                "(t0_u is estimated jointly with a_u)"
            )
        self.users_ = np.unique(pairs.user_id)
        return super().fit(pairs)

    def user_index(self, user_id: np.ndarray | None, rows: int) -> np.ndarray:
        """Embedding row of each pair's user: 1 + its rank among the training users, and
        ``UNSEEN`` (the base model) for users not seen in training or ``user_id=None``."""
        if user_id is None:
            return np.full(rows, UNSEEN, np.int64)
        return embedding_rows(self.users_, user_id)

    def _tensors(self, pairs: Pairs) -> Tensors:
        tensors = super()._tensors(pairs)
        index = self.user_index(pairs.user_id, len(pairs))
        tensors["user"] = torch.from_numpy(index).to(tensors["x1"].device)
        return tensors

    def _fit_reward_net(
        self,
        stage: str,
        hidden: tuple[int, ...],
        epochs: int,
        loss_of,
        fit: Tensors,
        validation: Tensors | None,
        seed: int,
    ) -> UserRewardNet:
        """g0 as the global learner fits it (users hidden), then the user deltas on top of
        the frozen g0, each step selected on the held-out rows (see the module docstring)."""
        dim = fit["x1"].shape[1]
        base = super()._new_reward_net(hidden, dim, seed)

        def population_loss(batch):
            return loss_of(base.pair_diff(batch["x1"], batch["x2"]), batch)

        self._stage(stage, base, population_loss, fit, validation, epochs, seed)
        user_seed = stage_seed(seed, "users")
        torch.manual_seed(user_seed)
        net = new_user_reward_net(
            base,
            dim,
            tuple(hidden),
            self.dropout,
            self.batch_norm,
            int(self.users_.size),
            self.rank,
            self.embedding_decay,
        ).to(torch.device(self.device))

        def user_loss(batch):
            return loss_of(self._pair_diff(net, batch), batch)

        self._stage(
            f"{stage}_users",
            net,
            user_loss,
            fit,
            validation,
            epochs,
            user_seed,
            include_initial=True,
        )
        return net

    def _pair_diff(self, net: torch.nn.Module, batch: Tensors) -> torch.Tensor:
        return net.pair_diff(batch["x1"], batch["x2"], batch["user"])

    def _barrier_of(self, batch: Tensors) -> float | torch.Tensor:
        return batch.get("barrier", self.barrier)

    # -- prediction ----------------------------------------------------------------------
    def base_reward_net(self) -> RewardNet:
        """The fitted base reward g0 as a plain RewardNet: the model an unseen user gets, and
        the ``net`` a run saves (with ``user_part()`` beside it)."""
        return self._fitted().base.eval()

    def user_part(self):
        """The fitted user part (training user ids, embeddings E with the zero row UNSEEN
        first, and a CPU copy of h) as a ``rtpref.reward_model.UserPart``: with
        ``base_reward_net()`` it is what ``RewardModel.from_net(..., users=...)`` saves."""
        from rtpref.reward_model import UserPart

        net = self._fitted()
        return UserPart(
            user_ids=np.array(self.users_, dtype=np.int64, copy=True),
            embeddings=net.embeddings.weight.detach().cpu().clone(),
            features=copy.deepcopy(net.features).cpu().eval(),
        )

    def predict_diff(
        self, x1: np.ndarray, x2: np.ndarray, user_id: np.ndarray | None = None
    ) -> np.ndarray:
        """g(x1, u) - g(x2, u) per pair; users unseen in training (or no ``user_id``) get
        the base model g0."""
        return self._predict_user_diff(self._fitted(), x1, x2, user_id)

    def predict_reward(self, x: np.ndarray, user_id: np.ndarray | None = None) -> np.ndarray:
        net = self._fitted()
        users = self.user_index(user_id, len(x))
        return batched(lambda items, u: net(items, u), net, x, users)

    def _predict_user_diff(self, net, x1, x2, user_id) -> np.ndarray:
        users = self.user_index(user_id, len(x1))
        return batched(lambda a, b, u: net.pair_diff(a, b, u), net, x1, x2, users)

    def predict_stage1_diff(self, x1, x2, user_id=None):
        """The stage-1 reward difference (None without a reward nuisance), for ``user_id``."""
        self._fitted()
        if not getattr(self, "stage1_reward_nets_", None):
            return None
        return np.mean(
            [self._predict_user_diff(net, x1, x2, user_id) for net in self.stage1_reward_nets_],
            0,
        )


@dataclasses.dataclass(kw_only=True)
class _PersonalizedTwoStage(_Personalized):
    def _nuisance_diff(self, net, tensors: Tensors) -> np.ndarray:
        return batched(
            lambda a, b, u: net.pair_diff(a, b, u),
            net,
            tensors["x1"],
            tensors["x2"],
            tensors["user"],
        )

    def _stage1(self, fit: Tensors, validation: Tensors | None) -> tuple[Tensors, Tensors | None]:
        fit, validation = super()._stage1(fit, validation)
        if not self.per_user_barrier:
            return fit, validation
        if "diff_hat" in fit:
            scaled = self.barrier * fit["diff_hat"]
        else:
            # The non-orthogonal learner has no reward nuisance: fit one for the barriers.
            net = self._fit_reward_net(
                "barrier_reward",
                self.hidden,
                self.stage1_epochs,
                self._choice_loss,
                fit,
                validation,
                stage_seed(self.seed, "barrier_reward"),
            )
            scaled = self.barrier * torch.from_numpy(self._nuisance_diff(net, fit)).float()
        users = fit["user"].cpu().numpy()
        count = int(self.users_.size) + 1
        times = fit["response_time"].cpu().numpy()
        if self.per_user_non_decision:
            estimate = estimate_user_ddm(
                users, times, scaled.cpu().numpy(), count=count, shrink=self.barrier_shrinkage
            )
            # The level of t0 stays the configured one: only each user's shift from the
            # population is taken from the data (row UNSEEN gets no shift).
            shifts = estimate["shifts"] - estimate["population_shift"]
        else:
            estimate = estimate_barriers(
                users, times, scaled.cpu().numpy(), count=count, shrink=self.barrier_shrinkage
            )
            shifts = np.zeros(count)
        # Only the users' relative caution comes from the data: the level stays the global a
        # (the pooled moment estimate is biased low where early-stopped log-loss shrinks
        # |a v| on near-deterministic choices, and that bias is common to all users).
        # Indexed by embedding row; row UNSEEN has no fit rows and gets the global a.
        self.user_barriers_ = self.barrier * estimate["barriers"] / estimate["population"]
        self.user_non_decision_times_ = self.non_decision_time + shifts
        self.barrier_estimate_ = estimate
        device = fit["x1"].device
        table = torch.from_numpy(self.user_barriers_).float().to(device)
        shift_table = torch.from_numpy(shifts).float().to(device)
        for part in (fit, validation):
            if part is not None:
                part["response_time"] = part["response_time"] - shift_table[part["user"]]
        time_scale = self._time_scales(fit)
        for part in (fit, validation):
            if part is not None:
                part["barrier"] = table[part["user"]]
                part["time_hat"] = part["time_hat"] * time_scale[part["user"]]
        return fit, validation

    def _time_scales(self, fit: Tensors) -> torch.Tensor:
        """Per-user factor on the pooled t_hat: a cautious user takes longer on every pair
        (E[T | v] grows like a_u^2), which one time network for all users averages away.
        The factor is sum T / sum t_hat over the user's fit rows, with TIME_PRIOR_PAIRS
        pseudo-pairs at the population ratio so that thin users stay near 1."""
        rows = int(self.users_.size) + 1
        users = fit["user"]
        time_sum = torch.zeros(rows, device=users.device).index_add_(0, users, fit["response_time"])
        hat_sum = torch.zeros(rows, device=users.device).index_add_(0, users, fit["time_hat"])
        mean_time, mean_hat = fit["response_time"].mean(), fit["time_hat"].mean()
        return (time_sum + TIME_PRIOR_PAIRS * mean_time) / (hat_sum + TIME_PRIOR_PAIRS * mean_hat)

    def barriers_by_user(self) -> dict[int, float]:
        """Estimated a_u per training user id (per_user_barrier only)."""
        if not hasattr(self, "user_barriers_"):
            raise RuntimeError(f"{self._name()}: fitted without per_user_barrier")
        return {int(u): float(a) for u, a in zip(self.users_, self.user_barriers_[1:], strict=True)}

    def non_decision_times_by_user(self) -> dict[int, float]:
        """Estimated t0_u per training user id (the global t0 without per_user_non_decision)."""
        if not hasattr(self, "user_non_decision_times_"):
            raise RuntimeError(f"{self._name()}: fitted without per_user_barrier")
        pairs = zip(self.users_, self.user_non_decision_times_[1:], strict=True)
        return {int(u): float(t0) for u, t0 in pairs}


@dataclasses.dataclass(kw_only=True)
class PersonalizedLogLossLearner(_Personalized, LogLossLearner):
    """log_loss with user embeddings."""

    algorithm: ClassVar[str] = "log_loss_personalized"


@dataclasses.dataclass(kw_only=True)
class PersonalizedOrthogonalLearner(_PersonalizedTwoStage, OrthogonalLearner):
    """orthogonal with user embeddings (and optionally per-user barriers)."""

    algorithm: ClassVar[str] = "orthogonal_personalized"


@dataclasses.dataclass(kw_only=True)
class PersonalizedNonOrthogonalLearner(_PersonalizedTwoStage, NonOrthogonalLearner):
    """nonorthogonal with user embeddings (and optionally per-user barriers)."""

    algorithm: ClassVar[str] = "nonorthogonal_personalized"


@dataclasses.dataclass(kw_only=True)
class PersonalizedCrossFitOrthogonalLearner(_PersonalizedTwoStage, CrossFitOrthogonalLearner):
    """orthogonal_crossfit with user embeddings (and optionally per-user barriers)."""

    algorithm: ClassVar[str] = "orthogonal_crossfit_personalized"


PERSONALIZED_CLASSES: dict[str, type[PairwiseLearner]] = {
    cls.algorithm: cls
    for cls in (
        PersonalizedLogLossLearner,
        PersonalizedOrthogonalLearner,
        PersonalizedNonOrthogonalLearner,
        PersonalizedCrossFitOrthogonalLearner,
    )
}
