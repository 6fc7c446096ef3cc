"""One training run: pick its rows, fit one learner, score it on the shared test set."""

from __future__ import annotations

import logging
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtpref.chunks import index_chunks, load_pairs
from rtpref.data import DataError
from rtpref.evaluation import evaluate_model, prompts_of_pairs, rewards_known
from rtpref.learners import TrainingDiverged, make_learner
from rtpref.learners.loop import stage_seed
from rtpref.metrics import nuisance_errors
from rtpref.reward_model import RewardModel, training_provenance
from rtpref.summary import NUISANCE_COLUMNS
from rtpref.user_metrics import user_group_metrics

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
    non_decision_time: float = 0.0,
    data_per_seed: bool = False,
    model_dir: str | Path | None = None,
    provenance: dict[str, Any] | None = None,
    best_of: tuple[int, ...] = (4, 16),
    group_seed: int = 0,
    calibration: dict[str, Any] | None = None,
    prompts_file: str | Path | None = None,
) -> dict[str, Any]:
    """Fit ``algorithm`` on ``size`` seeded training rows; return its metrics record.

    ``data_per_seed`` says that each seed has its own data set (a new synthetic world), which
    the record states so that runs using all rows are read correctly. The test rows are read
    only after fitting, for the final evaluation. The fitted reward model is saved to
    ``model_dir`` (if given); the metrics are computed from that model's predictions, so scoring
    the test pairs with it (``rtpref score``) reproduces them.
    """
    learner = make_learner(
        algorithm,
        training,
        barrier=barrier,
        non_decision_time=non_decision_time,
        seed=seed,
        device=device,
        label=label,
    )
    index = index_chunks(train_dir)
    rows = training_rows(index.num_rows, size, seed, str(train_dir))
    train_pairs = load_pairs(train_dir, rows)
    log.info(
        "%s: %d training rows, dim %d, device %s",
        label,
        len(train_pairs),
        train_pairs.x1.shape[1],
        device,
    )
    torch.use_deterministic_algorithms(True)
    started = time.perf_counter()
    learner.fit(train_pairs)
    train_seconds = time.perf_counter() - started
    test_pairs = load_pairs(test_dir)
    if train_pairs.x1.shape[1] != test_pairs.x1.shape[1]:
        raise DataError(
            f"{train_dir} has features of width {train_pairs.x1.shape[1]} but {test_dir} "
            f"of width {test_pairs.x1.shape[1]}"
        )
    selection = {stage: record.as_dict() for stage, record in learner.selection_.items()}
    epochs_chosen = {stage: int(record["epochs_chosen"]) for stage, record in selection.items()}
    # A personalized learner saves its base reward g0 (what an unseen user gets) with its
    # user part (ids, embeddings, h) beside it; each test pair is scored with its user.
    personalized = getattr(learner, "personalized", False)
    model = RewardModel.from_net(
        learner.base_reward_net() if personalized else learner.reward_net_,
        algorithm,
        barrier,
        non_decision_time,
        training={
            **learner.get_params(),
            "epochs": sum(epochs_chosen.values()),
            "epochs_chosen": epochs_chosen,
        },
        provenance={**(provenance or {}), **training_provenance(train_pairs, rows, seed)},
        calibration=calibration,
        users=learner.user_part() if personalized else None,
    )
    # From the saved model's predictions, so that `rtpref score` reproduces the metrics.
    predicted = model.predict_diff(
        test_pairs.x1, test_pairs.x2, user_id=test_pairs.user_id if personalized else None
    )
    # The loss is checked before each step; the last step can still blow the weights up.
    if not np.isfinite(predicted).all():
        raise TrainingDiverged(
            f"{label}: {int((~np.isfinite(predicted)).sum())} of {predicted.size} predicted "
            "reward differences on the test set are NaN/inf after training; "
            "lower training.learning_rate"
        )
    prompts = prompts_of_pairs(prompts_file, test_pairs.pair_index)
    metrics = evaluate_model(model, test_pairs, predicted, best_of, group_seed, prompts)
    if (
        test_pairs.user_id is not None
        and train_pairs.user_id is not None
        and rewards_known(test_pairs)
    ):
        # Global and personalized runs alike: seen users are those of this run's rows.
        metrics.update(user_group_metrics(predicted, test_pairs, train_pairs.user_id))
    if model_dir is not None:
        model.save_pretrained(model_dir)
    # Nuisance errors need the true rewards (simulated data only); null for recorded data.
    nuisances = dict.fromkeys(NUISANCE_COLUMNS)
    if rewards_known(test_pairs):
        has_nuisances = hasattr(learner, "predict_time")
        nuisances = nuisance_errors(
            learner.predict_time(test_pairs.x1, test_pairs.x2) if has_nuisances else None,
            learner.predict_stage1_diff(test_pairs.x1, test_pairs.x2) if has_nuisances else None,
            test_pairs.reward_1,
            test_pairs.reward_2,
            barrier,
        )
    return {
        "algorithm": algorithm,
        "n": int(size),
        "seed": int(seed),
        **metrics,
        **nuisances,
        "validation_choice_log_loss": learner.validation_choice_log_loss_,
        "barrier": float(barrier),
        "non_decision_time": float(non_decision_time),
        "train_seconds": train_seconds,
        "rows": len(train_pairs),
        "validation_rows": learner.validation_rows_,
        "all_training_rows": bool(size == index.num_rows),
        "data_per_seed": bool(data_per_seed),
        "test_rows": len(test_pairs),
        "epochs": sum(epochs_chosen.values()),
        "selection": selection,
        "device": device,
        "peak_memory_mb": peak_memory_mb(device),
    }
