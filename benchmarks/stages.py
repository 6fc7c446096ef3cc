"""The benchmark stages; each returns rows of {name, value, unit, ratio, target, pass}."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class ReferenceRecipe:
    """The reference learners' hyper-parameters (also usable as the loop's Optimisation)."""

    hidden: tuple[int, ...] = (1024, 512, 256)
    log_loss_hidden: tuple[int, ...] = (2048, 1024, 512, 256)
    dropout: float = 0.2
    batch_norm: bool = True
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    time_net: str = "siamese"
    patience: int | None = None

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "results" / "bench" / "training-profile.txt"


def row(
    name: str,
    value: float,
    unit: str,
    ratio: float | None = None,
    target: str | None = None,
    passed: bool | None = None,
) -> dict:
    return {
        "name": name,
        "value": float(value),
        "unit": unit,
        "ratio": None if ratio is None else float(ratio),
        "target": target,
        "pass": None if passed is None else bool(passed),
    }


def best_of(function: Callable[[], object], repeats: int = 3) -> float:
    """Fastest wall time of ``repeats`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


# --- 1. response-time simulation -----------------------------------------------------------


def bench_ddm() -> list[dict]:
    from benchmarks.reference import euler_per_row, euler_vectorised
    from rtpref import ddm

    rng = np.random.default_rng(0)
    drift = rng.normal(0.0, 1.0, 1_000_000)
    ddm.simulate(drift, 1.0, rng)  # warm-up: page faults of the first large allocation
    exact_seconds = best_of(lambda: ddm.simulate(drift, 1.0, rng))
    sample = drift[:400]
    euler_seconds = best_of(lambda: euler_per_row(sample, 1.0, 1e-3), repeats=1)
    exact_rate = drift.size / exact_seconds
    euler_rate = sample.size / euler_seconds
    speedup = exact_rate / euler_rate

    # Bias in E[T] at one drift: both samplers on the same number of rows, vs the closed form.
    rows, v = 100_000, 0.5
    expected = float(ddm.mean_time(v))
    _, euler_time = euler_vectorised(np.full(rows, v), 1.0, 1e-3, seed=1)
    _, exact_time = ddm.simulate(np.full(rows, v), 1.0, np.random.default_rng(2))
    standard_error = float(np.sqrt(ddm.var_time(v) / rows)) / expected
    euler_bias = euler_time.mean() / expected - 1
    exact_bias = exact_time.mean() / expected - 1
    return [
        row(
            "ddm: exact sampler, 1M rows (one core)",
            exact_rate,
            "rows/s",
            None,
            ">= 1e6",
            exact_rate >= 1e6,
        ),
        row("ddm: per-row Euler loop dt=1e-3 (reference)", euler_rate, "rows/s"),
        row("ddm: exact vs Euler loop, per row", speedup, "x", speedup, ">= 1000", speedup >= 1000),
        row(
            "ddm: Euler dt=1e-3 bias in E[T] (v=0.5)",
            100 * euler_bias,
            "%",
            euler_bias / standard_error,
            "(z)",
        ),
        row(
            "ddm: exact sampler bias in E[T] (v=0.5)",
            100 * exact_bias,
            "%",
            exact_bias / standard_error,
            "|z| < 4",
            abs(exact_bias / standard_error) < 4,
        ),
    ]


# --- 2. training: one epoch vs the matmul floor ----------------------------------------------


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


# --- 3. loading chunks, 6. memory of a training run: measured in fresh processes ------------


def _probe(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line as its last output."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark probe failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _write_chunks(directory: Path, rows: int, dim: int, rows_per_chunk: int = 50_000) -> None:
    import pyarrow as pa

    from rtpref.chunks import ChunkWriter, features_to_arrow

    directory.mkdir(parents=True, exist_ok=True)
    writer = ChunkWriter(directory, dim, rows_per_chunk)
    rng = np.random.default_rng(0)
    block = 10_000
    for start in range(0, rows, block):
        count = min(block, rows - start)
        writer.append(
            pa.table(
                {
                    "pair_index": np.arange(start, start + count),
                    "x1": features_to_arrow(rng.standard_normal((count, dim), dtype=np.float32)),
                    "x2": features_to_arrow(rng.standard_normal((count, dim), dtype=np.float32)),
                    "reward_1": rng.standard_normal(count),
                    "reward_2": rng.standard_normal(count),
                    "choice": rng.choice(np.array([-1, 1], dtype=np.int8), count),
                    "response_time": rng.random(count) + 0.1,
                }
            )
        )
    writer.close()


_RSS = """
import json, time
def _status_mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
def start_peak():
    # Reset the peak (VmHWM) to the current RSS, so the peak measured next is this step's.
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    return _status_mb("VmRSS")
def peak_mb():
    return _status_mb("VmHWM")
"""


def bench_loading(rows: int = 100_000, dim: int = 2048) -> list[dict]:
    with tempfile.TemporaryDirectory(dir=REPO / "results") as scratch:
        directory = Path(scratch) / "chunks"
        _write_chunks(directory, rows, dim)
        array_mb = rows * 2 * dim * 4 / 2**20
        ours_code = (
            _RSS
            + f"""
import numpy as np
from rtpref.chunks import load_pairs
load_pairs({str(directory)!r}, [0])
base = start_peak(); started = time.perf_counter()
pairs = load_pairs({str(directory)!r})
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "extra_mb": peak_mb() - base}}))
"""
        )
        reference_code = (
            _RSS
            + f"""
import glob
import numpy as np, pandas as pd
files = sorted(glob.glob({str(directory)!r} + "/chunk-*.parquet"))
pd.read_parquet(files[0], columns=["pair_index"])
base = start_peak(); started = time.perf_counter()
frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
x1 = np.stack(frame["x1"].to_numpy()); x2 = np.stack(frame["x2"].to_numpy())
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "extra_mb": peak_mb() - base}}))
"""
        )
        # Alternate fresh processes and keep each one's best: on a VM the first touch of
        # memory is costly and a later process reuses what an earlier one touched.
        ours_runs, reference_runs = [], []
        for _ in range(2):
            ours_runs.append(_probe(ours_code))
            reference_runs.append(_probe(reference_code))
        ours = min(ours_runs, key=lambda result: result["seconds"])
        reference = min(reference_runs, key=lambda result: result["seconds"])
    speedup = reference["seconds"] / ours["seconds"]
    memory_ratio = ours["extra_mb"] / array_mb
    return [
        row(f"loading: {rows:,} x 2 x {dim} chunks, ours", ours["seconds"], "s"),
        row("loading: pandas + np.stack (reference)", reference["seconds"], "s"),
        row("loading: speed-up vs pandas + np.stack", speedup, "x", speedup, ">= 2", speedup >= 2),
        row(
            "loading: peak extra RSS / array bytes",
            ours["extra_mb"],
            "MB",
            memory_ratio,
            "<= 1.3",
            memory_ratio <= 1.3,
        ),
        row(
            "loading: pandas peak extra RSS / array bytes",
            reference["extra_mb"],
            "MB",
            reference["extra_mb"] / array_mb,
        ),
    ]


def bench_memory(rows: int = 100_000, dim: int = 2048, test_rows: int = 10_000) -> list[dict]:
    """Peak RSS of a training run at n = 100,000 (reference network, one epoch: the peak does
    not grow with epochs) vs the bytes of its tensors and model state."""
    with tempfile.TemporaryDirectory(dir=REPO / "results") as scratch:
        train_dir, test_dir = Path(scratch) / "train", Path(scratch) / "test"
        _write_chunks(train_dir, rows, dim)
        _write_chunks(test_dir, test_rows, dim)
        probe = _probe(
            _RSS
            + f"""
import torch
from rtpref.learners.networks import RewardNet
from rtpref.run import run_training
torch.set_num_threads(2)
net = RewardNet({dim}, (2048, 1024, 512, 256), 0.2, True)
parameters = sum(p.numel() for p in net.parameters())
del net
base = start_peak()
run_training({str(train_dir)!r}, {str(test_dir)!r}, "log_loss", {rows}, 0,
             {{"log_loss_epochs": 1, "log_loss_hidden": [2048, 1024, 512, 256],
               "dropout": 0.2, "batch_norm": True, "validation_fraction": 0.0}}, 1.0)
print(json.dumps({{"extra_mb": peak_mb() - base, "parameters": parameters}}))
"""
        )
    # Features, labels (choice, time as float32) of train and test; weights, gradients and
    # the two Adam moments.
    data_bytes = (rows + test_rows) * (2 * dim * 4 + 2 * 4)
    model_bytes = probe["parameters"] * 4 * 4
    budget_mb = (data_bytes + model_bytes) / 2**20
    ratio = probe["extra_mb"] / budget_mb
    return [
        row(
            "memory: training run n=100k, peak extra RSS",
            probe["extra_mb"],
            "MB",
            ratio,
            "<= 1.5",
            ratio <= 1.5,
        )
    ]


# --- 4. embedding, 5. DAG overhead ------------------------------------------------------------


def bench_embedding(pairs: int = 1024, batch_pairs: int = 128) -> list[dict]:
    """The embed rule's inner loop vs decode-only and model-only rates, demo model on CPU."""
    import concurrent.futures

    import torch

    from rtpref.embedding import BatchSettings, aligned_batches, encode_shard, prepare_batch
    from rtpref.models import (
        DEMO_CONFIG_NAME,
        DEMO_WEIGHTS_NAME,
        DemoModelConfig,
        load_demo_clip,
        save_demo_clip,
    )
    from rtpref.sources.demo import DemoConfig, write_demo_shards

    torch.set_num_threads(2)  # the embed rule's default threads
    # Two cores split between the stages: one decode thread, one model thread.
    settings = BatchSettings(batch_pairs=batch_pairs, decode_workers=1)
    with tempfile.TemporaryDirectory(dir=REPO / "results") as scratch:
        root = Path(scratch)
        raw = root / "shard-0.parquet"
        write_demo_shards(DemoConfig(n_pairs=pairs), [raw])
        save_demo_clip(DemoModelConfig(), root / DEMO_CONFIG_NAME, root / DEMO_WEIGHTS_NAME)
        model = load_demo_clip(root / DEMO_CONFIG_NAME, root / DEMO_WEIGHTS_NAME)
        images = 2 * pairs

        def decode_only() -> list:
            # Decoding and preprocessing alone, with the rule's decode threads.
            with concurrent.futures.ThreadPoolExecutor(settings.decode_workers) as pool:
                futures = [
                    pool.submit(prepare_batch, *item, model, batch_pairs, raw)
                    for item in aligned_batches(raw, batch_pairs)
                ]
                return [future.result() for future in futures]

        prepared = decode_only()  # warm-up, and the inputs of the model-only pass
        decode_seconds = best_of(decode_only, repeats=2)
        # The model alone, with the threads the rule leaves it beside its decode workers.
        torch.set_num_threads(max(1, 2 - settings.decode_workers))
        model_seconds = best_of(
            lambda: [model.encode(batch.pixels, batch.tokens) for batch in prepared], repeats=2
        )
        torch.set_num_threads(2)
        pipeline_seconds = best_of(lambda: encode_shard(raw, model, settings), repeats=2)
    decode_rate, model_rate = images / decode_seconds, images / model_seconds
    pipeline_rate = images / pipeline_seconds
    ratio = pipeline_rate / min(decode_rate, model_rate)
    return [
        row("embedding: decode + preprocess only", decode_rate, "images/s"),
        row("embedding: model only (demo CLIP, CPU)", model_rate, "images/s"),
        row(
            "embedding: embed inner loop",
            pipeline_rate,
            "images/s",
            ratio,
            ">= 0.8 x min",
            ratio >= 0.8,
        ),
    ]


def _scratch_workflow(root: Path) -> Path:
    for name in ("Snakefile", "workflow", "config", "profiles"):
        (root / name).symlink_to(REPO / name)
    return root


def _timed_snakemake(root: Path, *args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return seconds


def bench_dag() -> list[dict]:
    """DAG overhead: the full reference sweep's dry run, the demo end to end, a no-op rerun."""
    with tempfile.TemporaryDirectory(dir=REPO / "results") as scratch:
        root = _scratch_workflow(Path(scratch))
        dry = _timed_snakemake(root, "-n", "--quiet", "--configfile", "config/pickapic.yaml")
        demo = _timed_snakemake(root, "--cores", "2", "--resources", "gpu=2", "--quiet")
        noop = _timed_snakemake(root, "--cores", "2", "--resources", "gpu=2", "--quiet")
    return [
        row("dag: dry run of config/pickapic.yaml", dry, "s", dry / 10, "<= 10 s", dry <= 10),
        row("dag: demo end to end (2 cores)", demo, "s", demo / 300, "<= 300 s", demo <= 300),
        row("dag: no-op rerun of the finished demo", noop, "s", noop / 10, "<= 10 s", noop <= 10),
    ]


def _env() -> dict[str, str]:
    # The reference sweep's dry run must not touch the network.
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
