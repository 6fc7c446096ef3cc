"""A trained reward model you can keep: a reward network g(x) plus everything needed to use it.

A saved model is a directory with two files, or three for a personalized model:

- ``model.safetensors``: the weights of g (safetensors only: loading never unpickles); for a
  personalized model this is the population reward g0, what a user not in the model gets;
- ``config.json``: the architecture (feature width ``in_dim``, ``hidden``, ``dropout``,
  ``batch_norm``), the algorithm, the DDM barrier a and non-decision time t0 it was trained
  with, all training options (with the epochs used) and provenance: source, embedder and its
  weights identity, rtpref version and a sha256 fingerprint of the training rows; for a
  personalized model also ``users`` (format, count, rank and the architecture of h);
- ``users.safetensors`` (personalized models only): the user part of
  g(x, u) = g0(x) + <E_u, h(x)>: ``user_ids`` (int64, sorted, unique), ``embeddings`` E
  (float32, count + 1 rows of width rank; row 0 is the unseen user and is zero; user
  ``user_ids[i]`` has row i + 1) and the weights of h under the prefix ``features.``.

``RewardModel.from_pretrained(path)`` loads a local directory, or a Hugging Face hub repo id
holding the same files where the hub is reachable.
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

from rtpref.learners.networks import UNSEEN, Dropout, RewardNet, UserRewardNet
from rtpref.users import embedding_rows

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
USERS_NAME = "users.safetensors"
USERS_FORMAT = "rtpref-user-embeddings"
USERS_FORMAT_VERSION = 1
USERS_KEYS = ("format", "count", "rank", "hidden", "dropout", "batch_norm")
FORMAT = "rtpref-reward-model"
FORMAT_VERSION = 1
# Weight files a pickle could hide in; a model directory holding only these is refused.
UNSAFE_WEIGHT_NAMES = ("model.bin", "pytorch_model.bin", "model.pt", "model.pth", "model.pkl")
UNSAFE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# Rows per forward pass when predicting; a fixed size keeps predictions bitwise reproducible.
PREDICT_BATCH = 8192


class ModelFileError(ValueError):
    """A saved model that cannot be used; the message names the file and what is wrong."""


def _layers_architecture(layers: torch.nn.Sequential) -> dict[str, Any]:
    """hidden widths, dropout and batch_norm of an mlp ending in a Linear, read from its
    layers."""
    linears = [layer for layer in layers if isinstance(layer, torch.nn.Linear)]
    dropouts = [layer for layer in layers if isinstance(layer, Dropout)]
    return {
        "hidden": [int(layer.out_features) for layer in linears[:-1]],
        "dropout": float(dropouts[0].p) if dropouts else 0.0,
        "batch_norm": any(isinstance(layer, torch.nn.BatchNorm1d) for layer in layers),
    }


def architecture_of(net: RewardNet) -> dict[str, Any]:
    """in_dim, hidden, dropout and batch_norm of a RewardNet, read from its layers."""
    return {"in_dim": int(net.body[0].in_features), **_layers_architecture(net.body)}


def features_architecture(features: torch.nn.Sequential) -> dict[str, Any]:
    """rank, hidden, dropout and batch_norm of a user network h (an mlp ending in a Linear to
    rank k), read from its layers."""
    return {"rank": int(features[-1].out_features), **_layers_architecture(features)}


@dataclasses.dataclass(frozen=True, eq=False)
class UserPart:
    """The user part of a personalized reward g(x, u) = g0(x) + <E_u, h(x)>.

    ``user_ids``: the training users, sorted and unique (int64, U); ``embeddings``: E, float32
    (U + 1, rank), row 0 the unseen user (zero), user ``user_ids[i]`` in row i + 1;
    ``features``: the network h (in_dim -> rank). Built by a fitted personalized learner's
    ``user_part()``, saved as ``users.safetensors``.
    """

    user_ids: NDArray[np.int64]
    embeddings: torch.Tensor
    features: torch.nn.Sequential

    @property
    def count(self) -> int:
        return int(self.user_ids.size)

    def config(self) -> dict[str, Any]:
        return {
            "format": USERS_FORMAT,
            "format_version": USERS_FORMAT_VERSION,
            "file": USERS_NAME,
            "count": self.count,
            **features_architecture(self.features),
        }

    def rows(self, user_id: NDArray[np.int64]) -> NDArray[np.int64]:
        """Embedding row of each user id: 1 + its position in ``user_ids``, 0 if absent."""
        return embedding_rows(self.user_ids, user_id)


def _check_user_part(
    user_ids: Any, embeddings: Any, where: str, error: type[Exception] = ValueError
) -> None:
    """Sorted unique int64 ids, float32 (U + 1, k) embeddings with a zero row 0."""
    if not isinstance(user_ids, np.ndarray) or user_ids.ndim != 1 or user_ids.dtype != np.int64:
        raise error(f"{where}: user_ids must be a 1-d int64 array")
    if user_ids.size and np.any(np.diff(user_ids) <= 0):
        at = int(np.flatnonzero(np.diff(user_ids) <= 0)[0]) + 1
        what = "duplicate" if user_ids[at] == user_ids[at - 1] else "unsorted"
        raise error(
            f"{where}: user_ids must be sorted and unique; {what} user id {int(user_ids[at])} "
            f"at position {at}"
        )
    if embeddings.dtype != torch.float32 or embeddings.dim() != 2:
        raise error(
            f"{where}: embeddings must be a 2-d float32 tensor, got "
            f"{embeddings.dtype} {tuple(embeddings.shape)}"
        )
    if embeddings.shape[0] != user_ids.size + 1:
        raise error(
            f"{where}: embeddings have {embeddings.shape[0]} rows but there are "
            f"{user_ids.size} user ids (need {user_ids.size + 1}: row 0 is the unseen user)"
        )
    if embeddings.shape[0] and bool(embeddings[0].ne(0).any()):
        raise error(
            f"{where}: embeddings row 0 (the unseen user, who gets g0) must be zero; it is "
            f"{embeddings[0].tolist()}"
        )


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
    Bradley-Terry probability sigmoid(2 a (g(x1) - g(x2))) that the first item is preferred.

    A personalized model also carries its users (``has_users``, ``user_ids``): given
    ``user_id``, ``predict_diff`` and ``predict_reward`` use g(x, u) = g0(x) + <E_u, h(x)> for
    the users in the model and g0 for any other user. ``net`` is always g0.
    """

    def __init__(
        self, net: RewardNet, config: dict[str, Any], users: UserPart | None = None
    ) -> None:
        self.net = net.eval()
        self.config = copy.deepcopy(config)
        if (users is None) != ("users" not in self.config):
            raise ValueError("config['users'] must be present exactly when users are given")
        self.users = users
        self._scorer = None
        if users is not None:
            # The learner's own network type, so a saved model reproduces it bitwise.
            embeddings = torch.nn.Embedding.from_pretrained(
                users.embeddings, freeze=True, padding_idx=UNSEEN
            )
            self._scorer = UserRewardNet(self.net, users.features, embeddings).eval()

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
        users: UserPart | None = None,
    ) -> RewardModel:
        """Wrap a trained network; ``training`` holds every option used (epochs included).

        ``users`` (from a fitted personalized learner's ``user_part()``) makes it a
        personalized model: ``net`` is then the base g0 and ``users`` the user part.
        """
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
        if users is not None:
            users = UserPart(
                user_ids=np.array(users.user_ids, dtype=np.int64, copy=True),
                embeddings=users.embeddings.detach().cpu().clone().contiguous(),
                features=copy.deepcopy(users.features).cpu().eval(),
            )
            _check_user_part(users.user_ids, users.embeddings, "users")
            in_dim = config["architecture"]["in_dim"]
            if users.features[0].in_features != in_dim:
                raise ValueError(
                    f"users: h takes width {users.features[0].in_features}, g0 width {in_dim}"
                )
            if users.features[-1].out_features != users.embeddings.shape[1]:
                raise ValueError(
                    f"users: h has rank {users.features[-1].out_features}, the embeddings "
                    f"{users.embeddings.shape[1]}"
                )
            config["users"] = users.config()
        # A JSON round trip now, so that a config that cannot be saved fails before training
        # results are thrown away, and the in-memory config equals the saved one.
        return cls(net.cpu(), json.loads(json.dumps(config)), users)

    @property
    def barrier(self) -> float:
        return float(self.config["ddm"]["barrier"])

    @property
    def non_decision_time(self) -> float:
        return float(self.config["ddm"].get("non_decision_time", 0.0))

    @property
    def in_dim(self) -> int:
        return int(self.config["architecture"]["in_dim"])

    @property
    def has_users(self) -> bool:
        """Whether the model is personalized (carries user embeddings)."""
        return self.users is not None

    @property
    def user_ids(self) -> NDArray[np.int64] | None:
        """The user ids the model has embeddings for (sorted), or None for a global model."""
        return None if self.users is None else self.users.user_ids.copy()

    # ------------------------------------------------------------------------------------
    # Saving and loading

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``model.safetensors`` and ``config.json`` (and ``users.safetensors`` for a
        personalized model) into ``directory`` atomically: a temporary directory is filled,
        then renamed, so a killed save leaves no model."""
        from safetensors.torch import save_file

        from rtpref.io import atomic_path

        state = {
            name: value.detach().cpu().contiguous().clone()
            for name, value in self.net.state_dict().items()
        }
        with atomic_path(directory, directory=True) as temporary:
            save_file(state, str(temporary / WEIGHTS_NAME), metadata={"format": "pt"})
            if self.users is not None:
                save_file(
                    _user_state(self.users), str(temporary / USERS_NAME), metadata={"format": "pt"}
                )
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
        users = None
        if "users" in config:
            if directory.is_dir():
                users_path = directory / USERS_NAME
                if not users_path.is_file():
                    raise ModelFileError(
                        f"{directory}: no {USERS_NAME}, but {config_path} describes users "
                        "(a personalized model); copy the whole model directory"
                    )
            else:
                users_path = _download_file(os.fspath(path_or_repo), USERS_NAME)
            users = _load_users(config, config_path, users_path)
        return cls(net, config, users)

    # ------------------------------------------------------------------------------------
    # Prediction

    def _check_width(self, x: NDArray, name: str) -> None:
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(
                f"{name} has shape {tuple(x.shape)}, but the model takes features of width "
                f"{self.in_dim} (rows, {self.in_dim})"
            )

    def _eval(self) -> None:
        self.net.eval()
        if self._scorer is not None:
            self._scorer.eval()

    def _user_rows(self, user_id: ArrayLike | None, rows: int) -> NDArray[np.int64] | None:
        """Embedding row per pair (0 for users not in the model), or None where every row
        gets g0: no ``user_id``, or a model without users (which ignores ``user_id``)."""
        if user_id is None:
            return None
        ids = np.asarray(user_id)
        if ids.ndim != 1 or ids.shape[0] != rows:
            raise ValueError(f"user_id has shape {ids.shape}; expected one id per row ({rows},)")
        if ids.dtype.kind not in "iu":
            raise ValueError(
                f"user_id must be integers (got dtype {ids.dtype}); a missing user is not "
                "allowed (leave user_id out to score with the population reward g0)"
            )
        if self.users is None:
            return None
        return self.users.rows(ids.astype(np.int64))

    @torch.no_grad()
    def predict_reward(self, x: ArrayLike, user_id: ArrayLike | None = None) -> NDArray[np.float64]:
        """g(x) for each row of ``x`` (rows, in_dim), as float64.

        With ``user_id`` (one integer per row) a personalized model gives
        g0(x) + <E_u, h(x)> for each row's user, and g0(x) for a user it has no embedding for;
        a model without users (``has_users`` False) ignores ``user_id`` and gives g0(x).
        """
        features = np.asarray(x, dtype=np.float32)
        self._check_width(features, "x")
        users = self._user_rows(user_id, len(features))
        self._eval()
        out = []
        for start in range(0, len(features), PREDICT_BATCH):
            items = torch.from_numpy(features[start : start + PREDICT_BATCH])
            if users is None:
                out.append(self.net(items).double())
            else:
                rows = torch.from_numpy(users[start : start + PREDICT_BATCH])
                out.append(self._scorer(items, rows).double())
        return torch.cat(out).numpy() if out else np.empty(0)

    @torch.no_grad()
    def predict_diff(
        self, x1: ArrayLike, x2: ArrayLike, user_id: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        """g(x1) - g(x2) per pair, as float64 (one forward pass over both items per batch).

        With ``user_id`` (one integer per pair) a personalized model scores each pair with its
        user's reward g0 + <E_u, h>, and with g0 where the user is not in the model; a model
        without users (``has_users`` False) ignores ``user_id`` and gives g0(x1) - g0(x2). The
        result is antisymmetric and, for a given model, bitwise reproducible (fixed batches).
        """
        first = np.asarray(x1, dtype=np.float32)
        second = np.asarray(x2, dtype=np.float32)
        self._check_width(first, "x1")
        self._check_width(second, "x2")
        if first.shape != second.shape:
            raise ValueError(f"x1 {first.shape} and x2 {second.shape} differ in shape")
        users = self._user_rows(user_id, len(first))
        self._eval()
        out = []
        for start in range(0, len(first), PREDICT_BATCH):
            a = torch.from_numpy(first[start : start + PREDICT_BATCH])
            b = torch.from_numpy(second[start : start + PREDICT_BATCH])
            if users is None:
                out.append(self.net.pair_diff(a, b).double())
            else:
                rows = torch.from_numpy(users[start : start + PREDICT_BATCH])
                out.append(self._scorer.pair_diff(a, b, rows).double())
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
    version = config.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format_version {version!r} is newer than this rtpref reads "
            f"({FORMAT_VERSION}); upgrade rtpref"
        )
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


def _user_state(users: UserPart) -> dict[str, torch.Tensor]:
    """The tensors of ``users.safetensors``."""
    state = {
        "user_ids": torch.from_numpy(users.user_ids.copy()),
        "embeddings": users.embeddings.detach().cpu().contiguous().clone(),
    }
    for name, value in users.features.state_dict().items():
        state[f"features.{name}"] = value.detach().cpu().contiguous().clone()
    return state


def _load_users(config: dict[str, Any], config_path: Path, users_path: Path) -> UserPart:
    """The user part described by ``config['users']``, read from ``users_path`` and checked
    against it (shapes, dtypes, sorted unique ids, a zero row 0)."""
    from rtpref.learners.networks import mlp

    described = config["users"]
    missing = (
        [key for key in USERS_KEYS if key not in described]
        if isinstance(described, dict)
        else list(USERS_KEYS)
    )
    if missing or described.get("format") != USERS_FORMAT:
        raise ModelFileError(
            f"{config_path}: 'users' must give {list(USERS_KEYS)} with format "
            f"{USERS_FORMAT!r}; missing {missing}"
        )
    state = _read_safetensors(users_path)
    for name in ("user_ids", "embeddings"):
        if name not in state:
            raise ModelFileError(f"{users_path}: no tensor {name!r}; has {sorted(state)}")
    user_ids = state.pop("user_ids").numpy()
    embeddings = state.pop("embeddings")
    try:
        count, rank = int(described["count"]), int(described["rank"])
        hidden = tuple(int(width) for width in described["hidden"])
        in_dim = int(config["architecture"]["in_dim"])
        features = mlp(
            in_dim, hidden, float(described["dropout"]), bool(described["batch_norm"]), False
        )
        features.append(torch.nn.Linear(hidden[-1] if hidden else in_dim, rank))
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{config_path}: bad users entry {described} ({error})") from error
    expected = {
        "user_ids": (count,),
        "embeddings": (count + 1, rank),
        **{f"features.{n}": tuple(v.shape) for n, v in features.state_dict().items()},
    }
    found = {
        "user_ids": tuple(user_ids.shape),
        "embeddings": tuple(embeddings.shape),
        **{name: tuple(value.shape) for name, value in state.items()},
    }
    if expected != found:
        differences = [
            f"{name}: config {expected.get(name, 'absent')} vs file {found.get(name, 'absent')}"
            for name in sorted(set(expected) | set(found))
            if expected.get(name) != found.get(name)
        ]
        raise ModelFileError(
            f"the users in {config_path} ({described}) do not match {users_path}: "
            + "; ".join(differences[:4])
            + (f" (+{len(differences) - 4} more)" if len(differences) > 4 else "")
        )
    _check_user_part(user_ids, embeddings, str(users_path), ModelFileError)
    features.load_state_dict(
        {name.removeprefix("features."): value for name, value in state.items()}
    )
    return UserPart(user_ids=user_ids, embeddings=embeddings, features=features.eval())


def _download_file(repo: str, name: str) -> Path:
    """One file of a hub repo, with a clear error when offline."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo, name))
    except LocalEntryNotFoundError as error:
        raise ModelFileError(
            f"{repo}: {name} is not in the Hugging Face cache while the hub cannot be reached "
            f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r})"
        ) from error
    except (HfHubHTTPError, OSError) as error:
        raise ModelFileError(f"{repo}: cannot download {name} ({error})") from error


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
