"""How good and how varied a generator's shapes are, measured against generator A's.

- ``true_reward``: mean S-curve likeness (the simulated person's reward).
- ``s_curve_fraction``: share of shapes the transparent classifier calls S-curves.
- ``diversity``: mean distance between two shapes of the same model, in the turning-angle
  embedding (invariant to rotation and scale); it drops when a model collapses onto a few shapes.
- ``energy_distance_to_a``: energy distance between the model's and A's shapes in that
  embedding, 2 E|X - Y| - E|X - X'| - E|Y - Y'| (0 for equal distributions; Szekely & Rizzo).
"""

from __future__ import annotations

import numpy as np
import torch

from rtpref.flow.shapes import is_s_curve, s_curve_likeness, turning_angles

METRICS = ("s_curve_fraction", "true_reward", "diversity", "energy_distance_to_a")


def _mean_distance(first: torch.Tensor, second: torch.Tensor) -> float:
    return float(torch.cdist(first, second).mean())


def evaluate(shapes: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """The metrics above for ``shapes`` against ``reference`` (A's shapes)."""
    embedded = torch.from_numpy(turning_angles(shapes))
    embedded_reference = torch.from_numpy(turning_angles(reference))
    within = _mean_distance(embedded, embedded)
    return {
        "s_curve_fraction": float(is_s_curve(shapes).mean()),
        "true_reward": float(s_curve_likeness(shapes).mean()),
        "diversity": within,
        "energy_distance_to_a": 2.0 * _mean_distance(embedded, embedded_reference)
        - within
        - _mean_distance(embedded_reference, embedded_reference),
    }
