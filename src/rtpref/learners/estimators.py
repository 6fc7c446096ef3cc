"""The learners as estimators: options in the constructor, ``fit(pairs)``, then predictions.

This module holds the log-loss (Bradley-Terry) learner, the table of learners by algorithm
name and ``make_learner``, and re-exports the rest: the base ``PairwiseLearner`` and its
helpers live in ``rtpref.learners.base`` (what ``fit`` does, the fitted attributes), the
response-time learners in ``rtpref.learners.two_stage``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from rtpref.learners.base import PairwiseLearner, Tensors, predict_diff, validation_split
from rtpref.learners.loop import TrainingDiverged, stage_seed
from rtpref.learners.networks import RewardNet
from rtpref.learners.two_stage import (
    STAGE2_WEIGHTINGS,
    TIME_NETS,
    CrossFitOrthogonalLearner,
    NonOrthogonalLearner,
    OrthogonalLearner,
)
from rtpref.names import ALGORITHMS, LEARNERS, constructor_arguments

__all__ = [
    "LEARNER_CLASSES",
    "STAGE2_WEIGHTINGS",
    "TIME_NETS",
    "CrossFitOrthogonalLearner",
    "LogLossLearner",
    "NonOrthogonalLearner",
    "OrthogonalLearner",
    "PairwiseLearner",
    "Tensors",
    "TrainingDiverged",
    "make_learner",
    "predict_diff",
    "validation_split",
]


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
