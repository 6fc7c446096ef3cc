"""Hyper-parameters of the learners, as given in the workflow config's ``training`` block."""

from __future__ import annotations

import dataclasses
from typing import Any

ALGORITHMS = ("log_loss", "orthogonal", "nonorthogonal", "orthogonal_crossfit", "oracle")

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


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    hidden: tuple[int, ...] = (1024, 512, 256)
    log_loss_hidden: tuple[int, ...] = (2048, 1024, 512, 256)
    dropout: float = 0.2
    batch_norm: bool = True
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    log_loss_epochs: int = 15
    stage1_epochs: int = 5
    stage2_epochs: int = 10
    crossfit_folds: int = 2
    time_net: str = "siamese"
    barrier: float = 1.0

    @classmethod
    def from_mapping(cls, values: dict[str, Any], barrier: float = 1.0) -> TrainingConfig:
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s): {unknown}")
        converted = {
            key: tuple(value) if isinstance(value, list) else value for key, value in values.items()
        }
        return cls(**{"barrier": barrier, **converted})
