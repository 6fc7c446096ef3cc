"""Hyper-parameters of the learners, as given in the workflow config's ``training`` block.

Which options each algorithm reads is in :mod:`rtpref.names` (the workflow needs it without
importing torch).
"""

from __future__ import annotations

import dataclasses
from typing import Any


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
