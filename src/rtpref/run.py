"""One training run: pick its rows, fit one learner, score it on the shared test set."""

from __future__ import annotations

import dataclasses
import logging
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtpref.chunks import DataError, index_chunks, load_pairs
from rtpref.evaluation import evaluate_model, prompts_of_pairs
from rtpref.learners import TrainingConfig, TrainingDiverged, fit_learner
from rtpref.learners.loop import stage_seed
from rtpref.reward_model import RewardModel, decision_time_pairs, training_provenance

log = logging.getLogger(__name__)


def training_rows(available: int, size: int, seed: int, source: str) -> np.ndarray:
    """The ``size`` training rows of this seed: a seeded sample without replacement."""
    if size < 2:
        raise DataError(f"{source}: a run needs at least 2 training rows, asked for {size}")
    if size > available:
        raise DataError(
            f"{source}: asked for n={size} training rows but only {available} exist; "
            "lower `sizes` or provide more data"
        )
    rng = np.random.default_rng(stage_seed(seed, "rows"))
    return np.sort(rng.choice(available, size=size, replace=False))


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_training(
    train_dir: str | Path,
    test_dir: str | Path,
    algorithm: str,
    size: int,
    seed: int,
    training: dict[str, Any],
    barrier: float,
    device: str = "cpu",
    label: str = "",
    model_dir: str | Path | None = None,
    non_decision_time: float = 0.0,
    provenance: dict[str, Any] | None = None,
    best_of: tuple[int, ...] = (4, 16),
    group_seed: int = 0,
    calibration: dict[str, Any] | None = None,
    prompts_file: str | Path | None = None,
) -> dict[str, Any]:
    """Fit ``algorithm`` on ``size`` seeded training rows; return its metrics record.

    The fitted reward model is saved to ``model_dir`` (if given); the metrics are computed
    from that model's predictions, so scoring the test pairs with it reproduces them.
    """
    config = TrainingConfig.from_mapping(training, barrier=barrier)
    index = index_chunks(train_dir)
    rows = training_rows(index.num_rows, size, seed, str(train_dir))
    train_pairs = load_pairs(train_dir, rows)
    test_pairs = load_pairs(test_dir)
    if train_pairs.x1.shape[1] != test_pairs.x1.shape[1]:
        raise DataError(
            f"{train_dir} has features of width {train_pairs.x1.shape[1]} but {test_dir} "
            f"of width {test_pairs.x1.shape[1]}"
        )
    log.info(
        "%s: %d training rows, %d test rows, dim %d, device %s",
        label,
        len(train_pairs),
        len(test_pairs),
        train_pairs.x1.shape[1],
        device,
    )
    torch.use_deterministic_algorithms(True)
    started = time.perf_counter()
    # The learners fit decision times T - t0 (integrator: pass non_decision_time to the
    # estimator instead once it takes one).
    fit_pairs = decision_time_pairs(train_pairs, non_decision_time)
    learner = fit_learner(algorithm, fit_pairs, config, seed, device, label)
    train_seconds = time.perf_counter() - started
    model = RewardModel.from_net(
        learner.reward_net,
        algorithm,
        barrier,
        non_decision_time,
        training={**dataclasses.asdict(config), "epochs": learner.epochs},
        provenance={**(provenance or {}), **training_provenance(train_pairs, rows, seed)},
        calibration=calibration,
    )
    predicted = model.predict_diff(test_pairs.x1, test_pairs.x2)
    # The loss is checked before each step; the last step can still blow the weights up.
    if not np.isfinite(predicted).all():
        raise TrainingDiverged(
            f"{label}: {int((~np.isfinite(predicted)).sum())} of {predicted.size} predicted "
            "reward differences on the test set are NaN/inf after training; "
            "lower training.learning_rate"
        )
    prompts = prompts_of_pairs(prompts_file, test_pairs.pair_index)
    metrics = evaluate_model(model, test_pairs, predicted, best_of, group_seed, prompts)
    if model_dir is not None:
        model.save_pretrained(model_dir)
    return {
        "algorithm": algorithm,
        "n": int(size),
        "seed": int(seed),
        **metrics,
        "barrier": float(barrier),
        "non_decision_time": float(non_decision_time),
        "train_seconds": train_seconds,
        "rows": len(train_pairs),
        "test_rows": len(test_pairs),
        "epochs": learner.epochs,
        "device": device,
        "peak_memory_mb": peak_memory_mb(device),
    }
