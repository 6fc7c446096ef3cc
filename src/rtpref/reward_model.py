"""A trained reward model you can keep: a reward network g(x) plus everything needed to use it.

A saved model is a directory with two files:

- ``model.safetensors``: the weights of g (safetensors only: loading never unpickles);
- ``config.json``: the architecture (feature width ``in_dim``, ``hidden``, ``dropout``,
  ``batch_norm``), the algorithm, the DDM barrier a and non-decision time t0 it was trained
  with, all training options (with the epochs used) and provenance: source, embedder and its
  weights identity, rtpref version and a sha256 fingerprint of the training rows.

``RewardModel.from_pretrained(path)`` loads a local directory, or a Hugging Face hub repo id
holding the same two files where the hub is reachable.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from rtpref.learners.networks import Dropout, RewardNet

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT = "rtpref-reward-model"
FORMAT_VERSION = 1
# Weight files a pickle could hide in; a model directory holding only these is refused.
UNSAFE_WEIGHT_NAMES = ("model.bin", "pytorch_model.bin", "model.pt", "model.pth", "model.pkl")
UNSAFE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# Rows per forward pass when predicting; a fixed size keeps predictions bitwise reproducible.
PREDICT_BATCH = 8192


class ModelFileError(ValueError):
    """A saved model that cannot be used; the message names the file and what is wrong."""


def architecture_of(net: RewardNet) -> dict[str, Any]:
    """in_dim, hidden, dropout and batch_norm of a RewardNet, read from its layers."""
    linears = [layer for layer in net.body if isinstance(layer, torch.nn.Linear)]
    dropouts = [layer for layer in net.body if isinstance(layer, Dropout)]
    return {
        "in_dim": int(linears[0].in_features),
        "hidden": [int(layer.out_features) for layer in linears[:-1]],
        "dropout": float(dropouts[0].p) if dropouts else 0.0,
        "batch_norm": any(isinstance(layer, torch.nn.BatchNorm1d) for layer in net.body),
    }


def fingerprint_rows(*arrays: ArrayLike) -> str:
    """sha256 over the bytes (with dtype and shape) of the given arrays, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        values = np.ascontiguousarray(array)
        digest.update(f"{values.dtype.str}{values.shape}".encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


def training_provenance(pairs: Any, rows: ArrayLike, seed: int) -> dict[str, Any]:
    """What identifies a run's training data: its rows, their count and a fingerprint."""
    return {
        "training_rows": len(pairs),
        "run_seed": int(seed),
        "training_rows_sha256": fingerprint_rows(
            np.asarray(rows, np.int64),
            pairs.pair_index,
            pairs.x1,
            pairs.x2,
            pairs.choice,
            pairs.response_time,
        ),
    }


def decision_time_pairs(pairs: Any, non_decision_time: float) -> Any:
    """``pairs`` with the non-decision time taken off every response time (T - t0)."""
    if not non_decision_time:
        return pairs
    return dataclasses.replace(pairs, response_time=pairs.response_time - non_decision_time)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _rtpref_version() -> str:
    from rtpref import __version__

    return __version__


class RewardModel:
    """g(x) with its config; ``predict_diff`` gives g(x1) - g(x2), ``prob_first`` the
    Bradley-Terry probability sigmoid(2 a (g(x1) - g(x2))) that the first item is preferred."""

    def __init__(self, net: RewardNet, config: dict[str, Any]) -> None:
        self.net = net.eval()
        self.config = copy.deepcopy(config)

    # ------------------------------------------------------------------------------------
    # Construction

    @classmethod
    def from_net(
        cls,
        net: RewardNet,
        algorithm: str,
        barrier: float,
        non_decision_time: float = 0.0,
        training: dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
        calibration: dict[str, Any] | None = None,
    ) -> RewardModel:
        """Wrap a trained network; ``training`` holds every option used (epochs included)."""
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "architecture": architecture_of(net),
            "algorithm": algorithm,
            "ddm": {
                "barrier": float(barrier),
                "non_decision_time": float(non_decision_time),
                "calibration": calibration,
            },
            "training": dict(training or {}),
            "provenance": {"rtpref_version": _rtpref_version(), **(provenance or {})},
        }
        # A JSON round trip now, so that a config that cannot be saved fails before training
        # results are thrown away, and the in-memory config equals the saved one.
        return cls(net.cpu(), json.loads(json.dumps(config)))

    @property
    def barrier(self) -> float:
        return float(self.config["ddm"]["barrier"])

    @property
    def non_decision_time(self) -> float:
        return float(self.config["ddm"].get("non_decision_time", 0.0))

    @property
    def in_dim(self) -> int:
        return int(self.config["architecture"]["in_dim"])

    # ------------------------------------------------------------------------------------
    # Saving and loading

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``directory`` atomically: a
        temporary directory is filled, then renamed, so a killed save leaves no model."""
        from safetensors.torch import save_file

        from rtpref.io import atomic_path

        state = {
            name: value.detach().cpu().contiguous().clone()
            for name, value in self.net.state_dict().items()
        }
        with atomic_path(directory, directory=True) as temporary:
            save_file(state, str(temporary / WEIGHTS_NAME), metadata={"format": "pt"})
            text = json.dumps(self.config, indent=2, sort_keys=True) + "\n"
            (temporary / CONFIG_NAME).write_text(text)
        return Path(directory)

    @classmethod
    def from_pretrained(cls, path_or_repo: str | os.PathLike[str]) -> RewardModel:
        """Load a saved model from a directory, or from a hub repo id (``org/name``).

        Only safetensors weights are read; a pickle-format file (``model.bin``, ``*.pt``) is
        refused by name. The config's architecture must match the weights' shapes exactly.
        """
        directory = Path(path_or_repo)
        if directory.is_dir():
            config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
            if not weights_path.is_file():
                unsafe_files = sorted(
                    path.name
                    for path in directory.iterdir()
                    if path.suffix in UNSAFE_WEIGHT_SUFFIXES
                )
                if unsafe_files:
                    raise ModelFileError(
                        f"{directory}: has {unsafe_files} but no {WEIGHTS_NAME}; pickle-format "
                        "weights can run code when loaded and are refused. Convert them to "
                        f"safetensors (safetensors.torch.save_file) as {WEIGHTS_NAME}"
                    )
                raise ModelFileError(f"{directory}: no {WEIGHTS_NAME} (a saved rtpref model)")
            if not config_path.is_file():
                raise ModelFileError(f"{directory}: no {CONFIG_NAME} (a saved rtpref model)")
        elif os.fspath(path_or_repo).count("/") == 1 and not directory.exists():
            config_path, weights_path = _download(os.fspath(path_or_repo))
        else:
            raise ModelFileError(
                f"{path_or_repo}: no such model directory (nor a hub repo id like org/name)"
            )
        config = _read_config(config_path)
        state = _read_safetensors(weights_path)
        net = _build_net(config, config_path)
        _check_shapes(net, state, config["architecture"], config_path, weights_path)
        net.load_state_dict(state)
        return cls(net, config)

    # ------------------------------------------------------------------------------------
    # Prediction

    def _check_width(self, x: NDArray, name: str) -> None:
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(
                f"{name} has shape {tuple(x.shape)}, but the model takes features of width "
                f"{self.in_dim} (rows, {self.in_dim})"
            )

    @torch.no_grad()
    def predict_reward(self, x: ArrayLike) -> NDArray[np.float64]:
        """g(x) for each row of ``x`` (rows, in_dim), as float64."""
        features = np.asarray(x, dtype=np.float32)
        self._check_width(features, "x")
        self.net.eval()
        out = [
            self.net(torch.from_numpy(features[start : start + PREDICT_BATCH])).double()
            for start in range(0, len(features), PREDICT_BATCH)
        ]
        return torch.cat(out).numpy() if out else np.empty(0)

    @torch.no_grad()
    def predict_diff(self, x1: ArrayLike, x2: ArrayLike) -> NDArray[np.float64]:
        """g(x1) - g(x2) per pair, as float64 (one forward pass over both items per batch)."""
        first = np.asarray(x1, dtype=np.float32)
        second = np.asarray(x2, dtype=np.float32)
        self._check_width(first, "x1")
        self._check_width(second, "x2")
        if first.shape != second.shape:
            raise ValueError(f"x1 {first.shape} and x2 {second.shape} differ in shape")
        self.net.eval()
        out = []
        for start in range(0, len(first), PREDICT_BATCH):
            a = torch.from_numpy(first[start : start + PREDICT_BATCH])
            b = torch.from_numpy(second[start : start + PREDICT_BATCH])
            out.append(self.net.pair_diff(a, b).double())
        return torch.cat(out).numpy() if out else np.empty(0)

    def prob_first(self, diff: ArrayLike) -> NDArray[np.float64]:
        """P(first preferred) = sigmoid(2 a diff) under the DDM with the model's barrier."""
        values = 2.0 * self.barrier * np.asarray(diff, dtype=np.float64)
        return np.exp(-np.logaddexp(0.0, -values))


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: unreadable config ({error})") from error
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an rtpref reward model config (format != {FORMAT!r})")
    architecture = config.get("architecture", {})
    missing = [
        key for key in ("in_dim", "hidden", "dropout", "batch_norm") if key not in architecture
    ]
    if missing or "ddm" not in config or "barrier" not in config["ddm"]:
        raise ModelFileError(f"{path}: config lacks architecture key(s) {missing} or ddm.barrier")
    return config


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(
            f"{path}: not a safetensors file ({error}); weights are read only as safetensors, "
            "never unpickled (a pickle can run code when loaded)"
        ) from error


def _build_net(config: dict[str, Any], config_path: Path) -> RewardNet:
    architecture = config["architecture"]
    try:
        return RewardNet(
            int(architecture["in_dim"]),
            tuple(int(width) for width in architecture["hidden"]),
            float(architecture["dropout"]),
            bool(architecture["batch_norm"]),
        )
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{config_path}: bad architecture {architecture} ({error})") from error


def _check_shapes(
    net: RewardNet,
    state: dict[str, torch.Tensor],
    architecture: dict[str, Any],
    config_path: Path,
    weights_path: Path,
) -> None:
    expected = {name: tuple(value.shape) for name, value in net.state_dict().items()}
    found = {name: tuple(value.shape) for name, value in state.items()}
    if expected == found:
        return
    differences = [
        f"{name}: config {expected.get(name, 'absent')} vs weights {found.get(name, 'absent')}"
        for name in sorted(set(expected) | set(found))
        if expected.get(name) != found.get(name)
    ]
    more = f" (+{len(differences) - 4} more)" if len(differences) > 4 else ""
    raise ModelFileError(
        f"the architecture in {config_path} ({architecture}) does not match the weights in "
        f"{weights_path}: " + "; ".join(differences[:4]) + more
    )


def _download(repo: str) -> tuple[Path, Path]:
    """config.json and model.safetensors of a hub repo, with a clear error when offline."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        config = hf_hub_download(repo, CONFIG_NAME)
        weights = hf_hub_download(repo, WEIGHTS_NAME)
    except LocalEntryNotFoundError as error:
        raise ModelFileError(
            f"{repo}: not a local directory, and not in the Hugging Face cache while the hub "
            f"cannot be reached (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r}). "
            "Download it where there is network (`hf download REPO --local-dir DIR`) and pass DIR"
        ) from error
    except (HfHubHTTPError, OSError) as error:
        raise ModelFileError(
            f"{repo}: cannot download {CONFIG_NAME}/{WEIGHTS_NAME} ({error})"
        ) from error
    return Path(config), Path(weights)
