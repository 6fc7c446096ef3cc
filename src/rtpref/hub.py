"""The Hugging Face hub: decide within seconds whether a model or dataset can be downloaded.

The hub libraries retry with long timeouts, which looks like a hang on a cluster node without
network. :func:`require_hub` makes one short HEAD request instead and raises
:class:`HubResourceUnavailable` naming what is missing and what to do (download it elsewhere, or
point a config key at a local copy). Used by the model loaders and the Pick-a-Pic source.
:func:`require_local_path`, :func:`require_checkpoint_file` and :func:`require_local_dir` refuse
local model paths that do not exist, naming the config key; they are torch-free, so the workflow
runs them while it parses the config, before any job.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HUB_PROBE_SECONDS = 5.0
_TRUE = {"1", "true", "yes", "on"}


class HubResourceUnavailable(RuntimeError):
    """A model or dataset is neither available locally nor downloadable right now."""


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_offline() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def hub_unavailable_reason(timeout: float = HUB_PROBE_SECONDS) -> str | None:
    """Why the Hugging Face hub cannot be used now, or None if it answers.

    One HEAD request with a short timeout: the hub libraries retry with long timeouts, which
    looks like a hang on a cluster node without network.
    """
    if hub_offline():
        return "HF_HUB_OFFLINE=1 (offline mode)"
    endpoint = hub_endpoint()
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout)
    except urllib.error.HTTPError:
        return None  # any HTTP answer means the hub is reachable
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return f"{endpoint} is unreachable ({reason})"
    return None


def require_hub(what: str, remedy: str) -> None:
    """Raise HubResourceUnavailable naming ``what`` and the ``remedy`` unless the hub answers."""
    reason = hub_unavailable_reason()
    if reason is not None:
        raise HubResourceUnavailable(f"{what} is not available locally and {reason}. {remedy}")


def hf_remedy(repo: str, config_key: str, repo_type: str = "model") -> str:
    """What to do about a missing hub repo: download it elsewhere, or set ``config_key``."""
    kind = "" if repo_type == "model" else f" --repo-type {repo_type}"
    return (
        f"Download it on a machine with network (`hf download {repo}{kind}`, then copy the "
        f"Hugging Face cache) or set {config_key} to a local directory"
    )


def looks_like_local_path(name: str) -> bool:
    """Whether ``name`` means a local path rather than a hub id (``name`` or ``org/name``)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1


def require_local_path(name: str, config_key: str) -> None:
    """Refuse a ``name`` that looks like a local path but does not exist, naming ``config_key``.

    Without this, transformers would take a mistyped path for a hub id and the job would fail
    later with a message about the hub.
    """
    if looks_like_local_path(name) and not Path(name).expanduser().exists():
        raise FileNotFoundError(
            f"{config_key}: {name} does not exist (a path, not a hub id: hub ids are org/name). "
            f"Point {config_key} at an existing local copy (`hf download <org/name> --local-dir "
            "<dir>` on a machine with network) or set it to a hub id"
        )


# open_clip's local-dir layout: this config file next to the weights.
LOCAL_DIR_CONFIG_NAME = "open_clip_config.json"
CHECKPOINT_SUFFIXES = (".bin", ".pt", ".pth", ".safetensors", ".ckpt")


def require_checkpoint_file(pretrained: str, config_key: str) -> None:
    """Refuse an open_clip ``pretrained`` that names a file (a path, not a tag) that is absent.

    open_clip would take it for an unknown tag and fail with a message that names neither the
    file nor the key.
    """
    is_path = looks_like_local_path(pretrained) or "/" in pretrained
    if (is_path or pretrained.endswith(CHECKPOINT_SUFFIXES)) and not (
        Path(pretrained).expanduser().is_file()
    ):
        raise FileNotFoundError(
            f"{config_key}: checkpoint file {pretrained} does not exist. Set {config_key} to an "
            "existing open_clip checkpoint (e.g. the open_clip_pytorch_model.bin of `hf download "
            "laion/CLIP-ViT-H-14-laion2B-s32B-b79K --local-dir <dir>`) or to a pretrained tag "
            "of the model (open_clip.list_pretrained_tags_by_model)"
        )


def require_local_dir(model: str, config_key: str = "pickapic.embedder.model") -> None:
    """Refuse ``local-dir:<path>`` unless ``<path>`` holds an open_clip config file."""
    directory = Path(model.removeprefix("local-dir:")).expanduser()
    if not (directory / LOCAL_DIR_CONFIG_NAME).is_file():
        raise FileNotFoundError(
            f"{config_key}: {directory} has no {LOCAL_DIR_CONFIG_NAME} (open_clip's local-dir "
            "layout); point it at a directory holding the model's config and weights"
        )


def load_pretrained(loader: Any, name: str, what: str, config_key: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(name)``: a local dir, the HF cache, or (if reachable) the hub."""
    require_local_path(name, config_key)
    name = str(Path(name).expanduser()) if name.startswith("~") else name
    if Path(name).exists():
        return loader.from_pretrained(name, local_files_only=True, **kwargs)
    try:
        return loader.from_pretrained(name, local_files_only=True, **kwargs)
    except (OSError, ValueError) as cached_error:
        log.info("%s %s not in the local cache (%s)", what, name, cached_error)
    require_hub(f"{what} {name!r}", hf_remedy(name, config_key))
    return loader.from_pretrained(name, **kwargs)
