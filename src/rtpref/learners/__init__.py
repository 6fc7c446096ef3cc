"""Reward learners from choices (and response times): the log-loss (Bradley-Terry) baseline,
the two-stage Neyman-orthogonal and non-orthogonal response-time learners (plain and
cross-fitted), and the oracle that is given the true mean response time.

``config`` holds the hyper-parameters, ``losses`` the loss functions, ``networks`` the reward
and time networks, ``loop`` the one training loop and ``estimators`` the learners built on it.
"""

from rtpref.learners.config import TrainingConfig
from rtpref.learners.estimators import TrainingDiverged, fit_learner

__all__ = ["TrainingConfig", "TrainingDiverged", "fit_learner"]
