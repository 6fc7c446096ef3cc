"""The four learners and the oracle reference line, composed from one loop and small losses."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import numpy as np
import torch

from rtpref import ddm
from rtpref.data import Pairs
from rtpref.learners import losses
from rtpref.learners.config import TrainingConfig
from rtpref.learners.loop import TrainingDiverged, stage_seed, train
from rtpref.learners.networks import RewardNet, SiameseTimeNet, TimeNet
from rtpref.names import ALGORITHMS

log = logging.getLogger(__name__)

__all__ = ["FittedLearner", "TrainingDiverged", "fit_learner", "predict_diff"]

PREDICT_BATCH = 8192


@dataclasses.dataclass
class FittedLearner:
    algorithm: str
    reward_net: RewardNet
    epochs: int

    def predict_diff(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        return predict_diff(self.reward_net, x1, x2)


def _tensors(pairs: Pairs, device: torch.device) -> dict[str, torch.Tensor]:
    return {
        "x1": torch.from_numpy(pairs.x1).to(device),
        "x2": torch.from_numpy(pairs.x2).to(device),
        "choice": torch.from_numpy(pairs.choice.astype(np.float32)).to(device),
        "response_time": torch.from_numpy(pairs.response_time.astype(np.float32)).to(device),
    }


@torch.no_grad()
def predict_diff(
    net: RewardNet, x1: np.ndarray | torch.Tensor, x2: np.ndarray | torch.Tensor
) -> np.ndarray:
    """g(x1) - g(x2) in eval mode, in batches, as float64 numpy."""
    net.eval()
    device = next(net.parameters()).device
    out = []
    for start in range(0, len(x1), PREDICT_BATCH):
        a = torch.as_tensor(x1[start : start + PREDICT_BATCH], device=device)
        b = torch.as_tensor(x2[start : start + PREDICT_BATCH], device=device)
        out.append(net.pair_diff(a, b).double().cpu())
    return torch.cat(out).numpy() if out else np.empty(0)


@torch.no_grad()
def _predict_time(
    net: SiameseTimeNet | TimeNet, x1: torch.Tensor, x2: torch.Tensor
) -> torch.Tensor:
    net.eval()
    parts = [
        net(x1[s : s + PREDICT_BATCH], x2[s : s + PREDICT_BATCH])
        for s in range(0, x1.shape[0], PREDICT_BATCH)
    ]
    return torch.cat(parts)


def _reward_net(
    hidden: tuple[int, ...], dim: int, config: TrainingConfig, seed: int, device: torch.device
) -> RewardNet:
    torch.manual_seed(seed)
    return RewardNet(dim, hidden, config.dropout, config.batch_norm).to(device)


def _fit_log_loss(
    tensors: dict[str, torch.Tensor],
    hidden: tuple[int, ...],
    epochs: int,
    config: TrainingConfig,
    seed: int,
    label: str,
) -> RewardNet:
    device = tensors["x1"].device
    net = _reward_net(hidden, tensors["x1"].shape[1], config, seed, device)

    def batch_loss(batch):
        return losses.log_loss(
            net.pair_diff(batch["x1"], batch["x2"]), batch["choice"], config.barrier
        )

    train(net, batch_loss, tensors, epochs, config, seed, label)
    return net


TIME_NETS = {"siamese": SiameseTimeNet, "concat": TimeNet}


def _fit_time(
    tensors: dict[str, torch.Tensor], config: TrainingConfig, seed: int, label: str
) -> SiameseTimeNet | TimeNet:
    if config.time_net not in TIME_NETS:
        raise ValueError(f"time_net={config.time_net!r}; choose from {sorted(TIME_NETS)}")
    device = tensors["x1"].device
    torch.manual_seed(seed)
    network = TIME_NETS[config.time_net]
    net = network(tensors["x1"].shape[1], config.hidden, config.dropout, config.batch_norm)
    net = net.to(device)

    def batch_loss(batch):
        return losses.time_mse(net(batch["x1"], batch["x2"]), batch["response_time"])

    train(net, batch_loss, tensors, config.stage1_epochs, config, seed, label)
    return net


def _nuisances(
    fit_on: dict[str, torch.Tensor],
    predict_on: dict[str, torch.Tensor],
    config: TrainingConfig,
    seed: int,
    label: str,
    need_reward: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Stage 1: t_hat by MSE on T and (optionally) r_hat by log-loss, predicted on other rows."""
    time_net = _fit_time(fit_on, config, stage_seed(seed, "time"), f"{label} stage1 time")
    time_hat = _predict_time(time_net, predict_on["x1"], predict_on["x2"])
    if not need_reward:
        return time_hat, None
    reward_net = _fit_log_loss(
        fit_on,
        config.hidden,
        config.stage1_epochs,
        config,
        stage_seed(seed, "reward"),
        f"{label} stage1 reward",
    )
    diff_hat = torch.from_numpy(predict_diff(reward_net, predict_on["x1"], predict_on["x2"]))
    return time_hat, diff_hat.float().to(time_hat.device)


def _crossfit_nuisances(
    tensors: dict[str, torch.Tensor], config: TrainingConfig, seed: int, label: str
) -> tuple[torch.Tensor, torch.Tensor]:
    rows = tensors["x1"].shape[0]
    folds = config.crossfit_folds
    if folds < 2 or folds > rows:
        raise ValueError(f"{label}: crossfit_folds={folds} needs 2 <= folds <= rows ({rows})")
    assignment = np.random.default_rng(stage_seed(seed, "folds")).permutation(rows) % folds
    time_hat = torch.empty(rows, device=tensors["x1"].device)
    diff_hat = torch.empty(rows, device=tensors["x1"].device)
    for fold in range(folds):
        held_out = torch.from_numpy(np.flatnonzero(assignment == fold)).to(time_hat.device)
        rest = torch.from_numpy(np.flatnonzero(assignment != fold)).to(time_hat.device)
        fit_on = {name: values[rest] for name, values in tensors.items()}
        predict_on = {name: values[held_out] for name, values in tensors.items()}
        fold_time, fold_diff = _nuisances(
            fit_on,
            predict_on,
            config,
            stage_seed(seed, f"fold{fold}"),
            f"{label} fold {fold + 1}/{folds}",
            need_reward=True,
        )
        time_hat[held_out] = fold_time
        diff_hat[held_out] = fold_diff
    return time_hat, diff_hat


def _fit_second_stage_net(
    tensors: dict[str, torch.Tensor],
    loss_of_diff: Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor],
    config: TrainingConfig,
    seed: int,
    label: str,
) -> RewardNet:
    """A reward net trained for ``stage2_epochs`` on ``loss_of_diff(pair_diff, batch)``."""
    net = _reward_net(
        config.hidden,
        tensors["x1"].shape[1],
        config,
        stage_seed(seed, "stage2"),
        tensors["x1"].device,
    )

    def batch_loss(batch):
        return loss_of_diff(net.pair_diff(batch["x1"], batch["x2"]), batch)

    train(
        net,
        batch_loss,
        tensors,
        config.stage2_epochs,
        config,
        stage_seed(seed, "stage2-batches"),
        label,
    )
    return net


def _fit_stage2(
    tensors: dict[str, torch.Tensor],
    time_hat: torch.Tensor,
    diff_hat: torch.Tensor | None,
    config: TrainingConfig,
    seed: int,
    label: str,
) -> RewardNet:
    stage_tensors = {**tensors, "time_hat": time_hat}
    if diff_hat is not None:
        stage_tensors["diff_hat"] = diff_hat

    def loss_of_diff(diff, batch):
        if diff_hat is None:
            return losses.nonorthogonal_loss(
                diff, batch["choice"], batch["time_hat"], config.barrier
            )
        return losses.orthogonal_loss(
            diff,
            batch["choice"],
            batch["response_time"],
            batch["time_hat"],
            batch["diff_hat"],
            config.barrier,
        )

    return _fit_second_stage_net(stage_tensors, loss_of_diff, config, seed, f"{label} stage2")


def _fit_oracle(
    tensors: dict[str, torch.Tensor],
    true_time: torch.Tensor,
    config: TrainingConfig,
    seed: int,
    label: str,
) -> RewardNet:
    def loss_of_diff(diff, batch):
        return losses.oracle_loss(diff, batch["choice"], batch["true_time"], config.barrier)

    oracle_tensors = {**tensors, "true_time": true_time}
    return _fit_second_stage_net(oracle_tensors, loss_of_diff, config, seed, f"{label} oracle")


def fit_learner(
    algorithm: str,
    train_pairs: Pairs,
    config: TrainingConfig,
    seed: int,
    device: torch.device | str = "cpu",
    label: str = "",
) -> FittedLearner:
    """Fit ``algorithm`` on ``train_pairs``; the result predicts g(x1) - g(x2)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose from {list(ALGORITHMS)}")
    label = label or f"{algorithm} seed{seed}"
    tensors = _tensors(train_pairs, torch.device(device))
    if algorithm == "log_loss":
        net = _fit_log_loss(
            tensors,
            config.log_loss_hidden,
            config.log_loss_epochs,
            config,
            stage_seed(seed, "log_loss"),
            label,
        )
        return FittedLearner(algorithm, net, config.log_loss_epochs)
    if algorithm == "oracle":
        # The true E[T|v]. With exact nuisances the orthogonal correction (T - t) v has mean
        # zero and only adds variance, and weighting pairs by E[T|v]^2 (as Y ~ f t does) starves
        # large-|v| pairs; the oracle regresses a Y / E[T|v] on f instead (see oracle_loss).
        drift = train_pairs.reward_diff
        true_time = torch.from_numpy(ddm.mean_time(drift, config.barrier)).float()
        net = _fit_oracle(tensors, true_time.to(tensors["x1"].device), config, seed, label)
        return FittedLearner(algorithm, net, config.stage2_epochs)
    if algorithm == "orthogonal_crossfit":
        time_hat, diff_hat = _crossfit_nuisances(tensors, config, seed, label)
    else:
        time_hat, diff_hat = _nuisances(
            tensors, tensors, config, seed, label, need_reward=algorithm == "orthogonal"
        )
    net = _fit_stage2(tensors, time_hat, diff_hat, config, seed, label)
    return FittedLearner(algorithm, net, config.stage1_epochs + config.stage2_epochs)
