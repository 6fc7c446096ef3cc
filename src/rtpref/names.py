"""Names the workflow and the library share, importable without torch or any heavy dependency.

Snakemake imports this module on every start (and in every cluster job) to build wildcard
constraints, target lists and per-algorithm rule params, so it must stay cheap: plain tuples and
small functions, no third-party imports.

- :data:`LEARNERS`, :data:`REFERENCE_LINES`, :data:`ALGORITHMS`: what a config can list under
  ``algorithms`` (reference lines read true rewards, so they exist for simulated data only);
- :data:`CONFIG_ARGUMENTS` / :data:`OPTIONS_USED`: the ``training`` options each algorithm reads
  (see :func:`options_for`, :func:`constructor_arguments`);
- :data:`METRICS`: the test-set metrics of every run, the columns of the summary table;
- :data:`FIGURE_METRICS`: the metrics that get a scaling figure, in plotting order
  (:data:`RECORDED_FIGURE_METRICS` for recorded data, which has no true rewards).
"""

from __future__ import annotations

from typing import Any

METRICS = ("accuracy", "accuracy_true", "mse", "policy_value", "regret")
FIGURE_METRICS = ("mse", "accuracy", "policy_value", "regret")
# Optional per-user metrics of runs whose test pairs carry users (image sources with users
# on): each of USER_GROUP_METRICS for the pairs of users seen / unseen in the run's training
# rows, e.g. seen_mse and unseen_mse (rtpref.user_metrics); "users" counts the group's users.
USER_GROUPS = ("seen", "unseen")
USER_GROUP_METRICS = (
    "accuracy",
    "accuracy_true",
    "mse",
    "mse_per_user",
    "policy_value",
    "regret",
    "users",
)
USER_METRICS = tuple(
    f"{group}_{name}" for group in USER_GROUPS for name in (*USER_GROUP_METRICS, "pairs")
)
# Recorded data has no true rewards: its figures show the held-out fit instead.
RECORDED_FIGURE_METRICS = ("accuracy", "choice_log_likelihood", "time_log_likelihood")

# Learners a user can run on their own choices and response times.
LEARNERS = ("log_loss", "orthogonal", "nonorthogonal", "orthogonal_crossfit")
# Reference lines for simulated data only: they read the true rewards of the training rows.
REFERENCE_LINES = ("noise_free_floor", "orthogonal_true_nuisances", "known_mean_time")
ALGORITHMS = (*LEARNERS, *REFERENCE_LINES)
# The learners with user embeddings (rtpref.learners.personalized); they need a user_id
# column, so they are kept apart from ALGORITHMS, which run on any data.
PERSONALIZED = tuple(f"{name}_personalized" for name in LEARNERS)

# Config key -> constructor argument, per algorithm. A run's Snakemake params are only these
# keys, so changing e.g. stage1_epochs reruns the two-stage learners but not log_loss.
_SHARED = {
    key: key
    for key in (
        "dropout",
        "batch_norm",
        "learning_rate",
        "weight_decay",
        "batch_size",
        "validation_fraction",
        "patience",
    )
}
_TWO_STAGE = {
    **_SHARED,
    "hidden": "hidden",
    "stage1_epochs": "stage1_epochs",
    "stage2_epochs": "stage2_epochs",
    "time_net": "time_net",
    "stage2_weighting": "stage2_weighting",
}
_REFERENCE = {**_SHARED, "hidden": "hidden", "stage2_epochs": "epochs"}
CONFIG_ARGUMENTS: dict[str, dict[str, str]] = {
    "log_loss": {**_SHARED, "log_loss_hidden": "hidden", "log_loss_epochs": "epochs"},
    "orthogonal": _TWO_STAGE,
    "nonorthogonal": _TWO_STAGE,
    "orthogonal_crossfit": {**_TWO_STAGE, "crossfit_folds": "crossfit_folds"},
    **{name: _REFERENCE for name in REFERENCE_LINES},
}
_USER_EMBEDDINGS = {
    "user_rank": "rank",
    "user_weight_decay": "embedding_decay",
}
_USER_BARRIERS = {
    "per_user_barrier": "per_user_barrier",
    "per_user_non_decision": "per_user_non_decision",
    "barrier_shrinkage": "barrier_shrinkage",
}
CONFIG_ARGUMENTS.update(
    {
        f"{name}_personalized": {
            **CONFIG_ARGUMENTS[name],
            **_USER_EMBEDDINGS,
            # log_loss reads no response times, so it has no use for per-user barriers.
            **({} if name == "log_loss" else _USER_BARRIERS),
        }
        for name in LEARNERS
    }
)
OPTIONS_USED = {algorithm: tuple(keys) for algorithm, keys in CONFIG_ARGUMENTS.items()}


def _check(algorithm: str) -> None:
    if algorithm not in CONFIG_ARGUMENTS:
        raise ValueError(
            f"unknown algorithm {algorithm!r}; choose from {[*ALGORITHMS, *PERSONALIZED]}"
        )


def options_for(algorithm: str, training: dict[str, Any]) -> dict[str, Any]:
    """The part of the ``training`` config block that ``algorithm`` uses."""
    _check(algorithm)
    return {key: training[key] for key in OPTIONS_USED[algorithm] if key in training}


def constructor_arguments(algorithm: str, training: dict[str, Any]) -> dict[str, Any]:
    """``training`` config keys of ``algorithm`` renamed to its estimator's arguments."""
    _check(algorithm)
    unknown = sorted(set(training) - {key for keys in OPTIONS_USED.values() for key in keys})
    if unknown:
        raise ValueError(f"unknown training option(s): {unknown}")
    return {
        argument: tuple(training[key]) if isinstance(training[key], list) else training[key]
        for key, argument in CONFIG_ARGUMENTS[algorithm].items()
        if key in training
    }
