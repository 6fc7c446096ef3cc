"""The Hugging Face hub: decide within seconds whether a model or dataset can be downloaded.

The hub libraries retry with long timeouts, which looks like a hang on a cluster node without
network. :func:`require_hub` makes one short HEAD request instead and raises
:class:`HubResourceUnavailable` naming what is missing and what to do (download it elsewhere, or
point a config key at a local copy). Used by the model loaders and the Pick-a-Pic source.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

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
