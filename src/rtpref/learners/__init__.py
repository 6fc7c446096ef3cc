"""Reward learners from choices (and response times); see DESIGN §1.4."""

from rtpref.learners.config import ALGORITHMS, TrainingConfig
from rtpref.learners.estimators import TrainingDiverged, fit_learner

__all__ = ["ALGORITHMS", "TrainingConfig", "TrainingDiverged", "fit_learner"]
