"""Stage "training": one epoch of each learner's network (log-loss, orthogonal stage 1 time
and reward networks, stage 2) vs the matmul floor — the same FLOPs as large float32 `torch.mm`
calls timed around each epoch — plus a DataLoader epoch as the reference loop and two
diagnostics (the Linear+ReLU chain alone; the net without batch-norm and dropout). A case that
misses its target gets a torch profile in results/bench/training-profile.txt."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable

import numpy as np

from perf.common import REPO, best_of, row

PROFILE = REPO / "results" / "bench" / "training-profile.txt"


@dataclasses.dataclass(frozen=True)
class ReferenceRecipe:
    """The reference learners' hyper-parameters (Pick-a-Pic recipe), also usable as the
    training loop's ``Optimisation`` (no early stopping: the bench times whole epochs)."""

    hidden: tuple[int, ...] = (1024, 512, 256)
    log_loss_hidden: tuple[int, ...] = (2048, 1024, 512, 256)
    dropout: float = 0.2
    batch_norm: bool = True
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    time_net: str = "siamese"
    patience: int | None = None



def linear_flops_per_row(layers: list[tuple[int, int]]) -> float:
    """Forward + backward matmul FLOPs of a stack of Linear layers for one input row.

    Forward 2*in*out; backward 2*in*out for the weight gradient plus 2*in*out for the input
    gradient, except for the first layer whose input needs no gradient."""
    total = 0.0
    for position, (fan_in, fan_out) in enumerate(layers):
        total += (4.0 if position == 0 else 6.0) * fan_in * fan_out
    return total


def layer_shapes(in_dim: int, hidden: tuple[int, ...]) -> list[tuple[int, int]]:
    widths = [in_dim, *hidden, 1]
    return list(zip(widths[:-1], widths[1:], strict=True))


class MatmulFloor:
    """Times the floor itself: a loop of large float32 ``torch.mm`` calls doing a given number
    of FLOPs, at the machine's sustained rate.

    On a shared VM the mm rate drifts by +-20 % over seconds, so a rate measured once makes
    every ratio noisy; the floor is instead timed right before and right after each epoch and
    the epoch is compared with their mean.
    """

    def __init__(self, size: int = 2048):
        import torch

        self.flops_per_call = 2.0 * size**3
        self.a, self.b = torch.randn(size, size), torch.randn(size, size)
        self.out = torch.empty(size, size)
        torch.mm(self.a, self.b, out=self.out)
        self.rates: list[float] = []

    def seconds(self, flops: float) -> float:
        import torch

        calls = max(1, round(flops / self.flops_per_call))
        started = time.perf_counter()
        for _ in range(calls):
            torch.mm(self.a, self.b, out=self.out)
        elapsed = time.perf_counter() - started
        self.rates.append(calls * self.flops_per_call / elapsed)
        return elapsed * flops / (calls * self.flops_per_call)

    def ratio(self, run: Callable[[], object], flops: float, repeats: int) -> tuple[float, float]:
        """Median over ``repeats`` of run time / floor time around it; and the median run time."""
        ratios, times = [], []
        before = self.seconds(flops)
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            elapsed = time.perf_counter() - started
            after = self.seconds(flops)
            ratios.append(elapsed / (0.5 * (before + after)))
            times.append(elapsed)
            before = after
        return float(np.median(ratios)), float(np.median(times))


def bench_training(rows: int = 20_000, dim: int = 2048) -> list[dict]:
    import torch

    from rtpref.learners import losses
    from rtpref.learners.estimators import TIME_NETS
    from rtpref.learners.networks import RewardNet

    torch.manual_seed(0)
    config = ReferenceRecipe()
    tensors = {
        "x1": torch.randn(rows, dim),
        "x2": torch.randn(rows, dim),
        "choice": torch.randint(0, 2, (rows,)).float() * 2 - 1,
        "response_time": torch.rand(rows) + 0.2,
        "time_hat": torch.rand(rows) + 0.2,
        "diff_hat": torch.randn(rows),
    }
    floor = MatmulFloor()
    results = []

    def reward_net(hidden):
        return RewardNet(dim, hidden, config.dropout, config.batch_norm)

    log_net, log_loss, log_flops = _log_loss_case(config, dim)
    cases = [("log_loss", log_net, log_loss, log_flops)]
    # The default (siamese) time network: the item network on both items, then a head on
    # |phi(x1) - phi(x2)| whose first layer passes its gradient on.
    time_net = TIME_NETS[config.time_net](dim, config.hidden, config.dropout, config.batch_norm)
    item_layers = layer_shapes(dim, config.hidden)[:-1]
    width = config.hidden[-1]
    cases.append(
        (
            "orthogonal stage 1 (time)",
            time_net,
            lambda b: losses.time_mse(time_net(b["x1"], b["x2"]), b["response_time"]),
            2 * linear_flops_per_row(item_layers) + 6.0 * (width * width + width),
        )
    )
    nuisance_net = reward_net(config.hidden)
    cases.append(
        (
            "orthogonal stage 1 (reward)",
            nuisance_net,
            lambda b: losses.log_loss(nuisance_net.pair_diff(b["x1"], b["x2"]), b["choice"]),
            2 * linear_flops_per_row(layer_shapes(dim, config.hidden)),
        )
    )
    final_net = reward_net(config.hidden)
    cases.append(
        (
            "orthogonal stage 2",
            final_net,
            lambda b: losses.orthogonal_loss(
                final_net.pair_diff(b["x1"], b["x2"]),
                b["choice"],
                b["response_time"],
                b["time_hat"],
                b["diff_hat"],
            ),
            2 * linear_flops_per_row(layer_shapes(dim, config.hidden)),
        )
    )
    profiles = []
    epoch_seconds = {}
    for name, net, loss, flops_per_pair in cases:
        epoch = _epoch_runner(net, loss, tensors, config, name)
        ratio, seconds = floor.ratio(epoch, flops_per_pair * rows, repeats=2)
        epoch_seconds[name] = seconds
        results.append(
            row(f"training: {name}, 1 epoch / floor", seconds, "s", ratio, "<= 1.2", ratio <= 1.2)
        )
        if ratio > 1.2:
            profiles.append(_profile_epoch(name, epoch, flops_per_pair * rows, floor))
    if profiles:
        PROFILE.parent.mkdir(parents=True, exist_ok=True)
        PROFILE.write_text("\n\n".join(profiles) + "\n")
        print(f"[bench] targets missed: torch profiles in {PROFILE}", file=sys.stderr)

    # The reference method: a DataLoader over per-row tensors, collated into batches.
    dataset = torch.utils.data.TensorDataset(tensors["x1"], tensors["x2"], tensors["choice"])
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True)
    optimizer = torch.optim.Adam(log_net.parameters(), lr=config.learning_rate)

    def dataloader_epoch():
        log_net.train()
        for x1, x2, choice in loader:
            loss = losses.log_loss(log_net.pair_diff(x1, x2), choice)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    reference_seconds = best_of(dataloader_epoch, repeats=1)
    ours = epoch_seconds["log_loss"]
    results.append(
        row(
            "training: DataLoader epoch (log_loss) / ours",
            reference_seconds,
            "s",
            reference_seconds / ours,
            ">= 1",
            reference_seconds >= ours,
        )
    )
    results.append(_matmul_chain_row(config, dim, rows, floor))
    results.append(_plain_training_row(config, tensors, floor))
    rate = float(np.median(floor.rates))
    return [
        row("training: torch.mm float32 sustained rate (floor)", rate / 1e9, "GFLOP/s")
    ] + results


def _log_loss_case(config, dim: int):
    """The log-loss reward network for ``config``, its batch loss, and its matmul FLOPs per pair."""
    from rtpref.learners import losses
    from rtpref.learners.networks import RewardNet

    net = RewardNet(dim, config.log_loss_hidden, config.dropout, config.batch_norm)

    def loss(batch):
        return losses.log_loss(net.pair_diff(batch["x1"], batch["x2"]), batch["choice"])

    return net, loss, 2 * linear_flops_per_row(layer_shapes(dim, config.log_loss_hidden))


def _epoch_runner(net, loss, tensors: dict, config, name: str) -> Callable[[], None]:
    """One epoch of our training loop over ``tensors``, after a short warm-up epoch (allocator,
    kernels, Adam state) so that the timed epochs see none of it."""
    from rtpref.learners.loop import train

    train(net, loss, {key: value[:2048] for key, value in tensors.items()}, 1, config, 0, name)
    return lambda: train(net, loss, tensors, 1, config, 0, name)


MATMUL_OPS = ("aten::mm", "aten::addmm")


def _profile_epoch(name: str, epoch: Callable[[], None], flops: float, floor: MatmulFloor) -> str:
    """One more epoch under the torch profiler: where the time beyond the floor goes."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        epoch()
    averages = profiler.key_averages()
    total_us = sum(event.self_cpu_time_total for event in averages)
    matmul_us = sum(e.self_cpu_time_total for e in averages if e.key in MATMUL_OPS)
    floor_seconds = floor.seconds(flops)
    return (
        f"== {name}: epoch (profiled) {total_us / 1e6:.2f} s, floor {floor_seconds:.2f} s\n"
        f"matmuls {matmul_us / 1e6:.2f} s = {matmul_us / total_us:.0%} of the epoch, "
        f"{floor_seconds / (matmul_us / 1e6):.0%} of the floor's mm rate; "
        f"everything else {(total_us - matmul_us) / 1e6:.2f} s "
        f"= {(total_us - matmul_us) / 1e6 / floor_seconds:.2f} x the floor\n"
        + averages.table(sort_by="self_cpu_time_total", row_limit=16)
    )


def _matmul_chain_row(config, dim: int, rows: int, floor: MatmulFloor) -> dict:
    """Diagnostic: the log-loss network's Linear + ReLU layers alone, forward and backward,
    no batch-norm, dropout or optimizer. Its ratio to the floor is the part of the gap that
    comes from the matmuls themselves (their shapes and the layers between them)."""
    import torch

    from rtpref.learners.networks import mlp

    chain = mlp(dim, config.log_loss_hidden, dropout=0.0, batch_norm=False)
    batch = torch.randn(2 * config.batch_size, dim)  # both items of a batch of pairs
    steps = rows // config.batch_size

    def epoch() -> None:
        for _ in range(steps):
            chain.zero_grad(set_to_none=True)
            chain(batch).sum().backward()

    epoch()
    flops = linear_flops_per_row(layer_shapes(dim, config.log_loss_hidden))
    ratio, seconds = floor.ratio(epoch, flops * 2 * config.batch_size * steps, repeats=1)
    return row(
        "training: log_loss net, Linear+ReLU fwd+bwd only / floor",
        seconds,
        "s",
        ratio,
        "(diagnostic)",
    )


def _plain_training_row(config, tensors: dict, floor: MatmulFloor) -> dict:
    """Diagnostic: a whole log-loss epoch (our loop, fused Adam) of the same net without
    batch-norm and dropout. Between it and the Linear+ReLU chain row lies the optimizer and
    the loop; above it, what batch-norm and dropout cost."""
    import dataclasses

    plain = dataclasses.replace(config, dropout=0.0, batch_norm=False)
    rows, dim = tensors["x1"].shape
    net, loss, flops_per_pair = _log_loss_case(plain, dim)
    epoch = _epoch_runner(net, loss, tensors, plain, "plain")
    ratio, seconds = floor.ratio(epoch, flops_per_pair * rows, repeats=1)
    return row(
        "training: log_loss net, no BN/dropout, whole epoch / floor",
        seconds,
        "s",
        ratio,
        "(diagnostic)",
    )
