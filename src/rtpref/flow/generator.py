"""A small rectified-flow (flow-matching) generator of fixed-length point sequences.

Rectified flow: draw noise x0 ~ N(0, I) and data x1, set x_t = (1 - t) x0 + t x1, and regress
a velocity network v(x_t, t) on x1 - x0 (Liu et al. 2022, "Flow Straight and Fast"; Lipman
et al. 2022, "Flow Matching for Generative Modeling"). Samples are drawn by integrating
dx/dt = v(x, t) from t = 0 to 1 with Euler steps, so one noise array maps to one shape and
two models given the same noise can be compared sample by sample.

Checkpoints are safetensors files: tensors only, with the architecture as string metadata, so
loading never runs code from the file (the ``weights_only`` guarantee, without pickle).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from rtpref.io import atomic_path

FORMAT = "rtpref.flow.velocity/1"
TIME_FREQUENCIES = 8


class CheckpointError(ValueError):
    """A generator checkpoint that cannot be used; the message names the file."""


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """Architecture and training of the velocity network (the config's ``flow.generator``)."""

    hidden: tuple[int, ...] = (256, 256, 256)
    steps: int = 3000
    batch_size: int = 256
    learning_rate: float = 1e-3


class VelocityNet(nn.Module):
    """v(x, t): an MLP of the sequence and sinusoidal features of t."""

    def __init__(self, dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.dim = dim
        self.hidden = tuple(hidden)
        layers: list[nn.Module] = []
        width = dim + 2 * TIME_FREQUENCIES
        for size in self.hidden:
            layers += [nn.Linear(width, size), nn.SiLU()]
            width = size
        layers.append(nn.Linear(width, dim))
        self.body = nn.Sequential(*layers)
        self.register_buffer(
            "frequencies", torch.pi * 2.0 ** torch.arange(TIME_FREQUENCIES, dtype=torch.float32)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        phase = t[:, None] * self.frequencies[None]
        return self.body(torch.cat([x, torch.sin(phase), torch.cos(phase)], dim=1))


def make_generator(dim: int, hidden: tuple[int, ...], seed: int) -> VelocityNet:
    torch.manual_seed(seed)
    return VelocityNet(dim, hidden)


def interpolate(
    data: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_t, t, target velocity) for a batch of data, noise and times drawn from ``generator``."""
    noise = torch.randn(data.shape, generator=generator)
    t = torch.rand(data.shape[0], generator=generator)
    x_t = (1.0 - t[:, None]) * noise + t[:, None] * data
    return x_t, t, data - noise


def flow_matching_loss(
    model: VelocityNet, x_t: torch.Tensor, t: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Per-row squared error of the velocity, (rows,); its mean is the flow-matching loss."""
    return ((model(x_t, t) - target) ** 2).mean(dim=1)


def optimise(
    model: nn.Module,
    batch_loss: Callable[[int], torch.Tensor],
    steps: int,
    learning_rate: float,
    label: str,
    log: Callable[..., None],
) -> list[float]:
    """Adam on ``batch_loss(step)`` for ``steps`` steps; stops loudly on a non-finite loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    history = []
    model.train()
    for step in range(steps):
        loss = batch_loss(step)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{label}: loss became {float(loss)} at step {step + 1}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
        if (step + 1) % max(1, steps // 10) == 0:
            log("%s: step %d/%d loss %.5f", label, step + 1, steps, np.mean(history[-50:]))
    model.eval()
    return history


def batches(rows: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless row indices: one permutation per pass, each cut into batches."""
    while True:
        order = torch.randperm(rows, generator=generator)
        for start in range(0, rows - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def train_generator(
    shapes: np.ndarray, config: FlowConfig, seed: int, log: Callable[..., None] = print
) -> tuple[VelocityNet, list[float]]:
    """Fit a velocity network to ``shapes`` (rows, dim) by flow matching."""
    data = torch.from_numpy(np.ascontiguousarray(shapes, dtype=np.float32))
    if data.shape[0] < config.batch_size:
        raise ValueError(
            f"flow.generator.batch_size={config.batch_size} exceeds the {data.shape[0]} "
            "training shapes; lower batch_size or raise flow.generator.train_shapes"
        )
    model = make_generator(data.shape[1], config.hidden, seed)
    generator = torch.Generator().manual_seed(seed)
    rows = batches(data.shape[0], config.batch_size, generator)

    def batch_loss(_step: int) -> torch.Tensor:
        return flow_matching_loss(model, *interpolate(data[next(rows)], generator)).mean()

    history = optimise(model, batch_loss, config.steps, config.learning_rate, "generator", log)
    return model, history


def initial_noise(rows: int, dim: int, seed: int) -> torch.Tensor:
    return torch.randn((rows, dim), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def sample(model: VelocityNet, noise: torch.Tensor, steps: int) -> np.ndarray:
    """Integrate dx/dt = v(x, t) from the noise at t = 0 to t = 1 with ``steps`` Euler steps."""
    if steps < 1:
        raise ValueError(f"sample_steps={steps} must be >= 1")
    model.eval()
    x = noise.clone()
    for step in range(steps):
        t = torch.full((x.shape[0],), step / steps)
        x = x + model(x, t) / steps
    return x.numpy()


def save_generator(model: VelocityNet, path: str | os.PathLike[str]) -> None:
    """Write a safetensors checkpoint atomically (tensors and architecture metadata only)."""
    metadata = {"format": FORMAT, "dim": str(model.dim), "hidden": json.dumps(model.hidden)}
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    with atomic_path(path) as temporary:
        save_file(state, str(temporary), metadata=metadata)


def load_generator(path: str | os.PathLike[str]) -> VelocityNet:
    """Load a checkpoint written by ``save_generator``; any other file is a CheckpointError."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({error})") from error
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: metadata format {metadata.get('format')!r}, expected {FORMAT!r}; "
            "rebuild it with the flow_generator rule"
        )
    model = VelocityNet(int(metadata["dim"]), tuple(json.loads(metadata["hidden"])))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{path}: tensors do not match the architecture ({error})") from error
    model.eval()
    return model
