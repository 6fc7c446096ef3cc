"""Reward learners from choices (and response times), as estimators."""

from rtpref.learners.estimators import (
    LEARNER_CLASSES,
    CrossFitOrthogonalLearner,
    LogLossLearner,
    NonOrthogonalLearner,
    OrthogonalLearner,
    PairwiseLearner,
    TrainingDiverged,
    make_learner,
)
from rtpref.learners.networks import RewardNet
from rtpref.names import ALGORITHMS, LEARNERS, REFERENCE_LINES

__all__ = [
    "ALGORITHMS",
    "LEARNERS",
    "LEARNER_CLASSES",
    "REFERENCE_LINES",
    "CrossFitOrthogonalLearner",
    "LogLossLearner",
    "NonOrthogonalLearner",
    "OrthogonalLearner",
    "PairwiseLearner",
    "RewardNet",
    "TrainingDiverged",
    "make_learner",
]
