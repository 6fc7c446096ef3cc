"""Names the workflow and the library share, importable without torch or any heavy dependency.

Snakemake imports this module on every start (and in every cluster job) to build wildcard
constraints, target lists and per-algorithm rule params, so it must stay cheap: plain tuples and
one function, no third-party imports.

- :data:`ALGORITHMS`: the reward learners a config can list under ``algorithms``;
- :data:`OPTIONS_USED`: the ``training`` options each algorithm reads (see :func:`options_for`);
- :data:`METRICS`: the test-set metrics of every run, the columns of the summary table;
- :data:`FIGURE_METRICS`: the metrics that get a scaling figure, in plotting order.
"""

from __future__ import annotations

from typing import Any

ALGORITHMS = ("log_loss", "orthogonal", "nonorthogonal", "orthogonal_crossfit", "oracle")

METRICS = ("accuracy", "accuracy_true", "mse", "policy_value", "regret")
FIGURE_METRICS = ("mse", "accuracy", "policy_value", "regret")

# The training options each algorithm reads; a run's Snakemake params are only these, so
# changing e.g. stage1_epochs reruns the two-stage learners but not log_loss or oracle.
_SHARED = ("dropout", "batch_norm", "learning_rate", "weight_decay", "batch_size")
_TWO_STAGE = (*_SHARED, "hidden", "stage1_epochs", "stage2_epochs", "time_net")
OPTIONS_USED = {
    "log_loss": (*_SHARED, "log_loss_hidden", "log_loss_epochs"),
    "orthogonal": _TWO_STAGE,
    "nonorthogonal": _TWO_STAGE,
    "orthogonal_crossfit": (*_TWO_STAGE, "crossfit_folds"),
    "oracle": (*_SHARED, "hidden", "stage2_epochs"),
}


def options_for(algorithm: str, training: dict[str, Any]) -> dict[str, Any]:
    """The part of the ``training`` config block that ``algorithm`` uses."""
    if algorithm not in OPTIONS_USED:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose from {list(ALGORITHMS)}")
    return {key: training[key] for key in OPTIONS_USED[algorithm] if key in training}
