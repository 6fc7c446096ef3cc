"""Image-text models behind the score and embed rules, with one interface for all of them.

Each model family has its module: ``demo_clip`` (the demo's tiny CLIP), ``openclip`` (open_clip
models, the pickapic embedder) and ``pickscore`` (PickScore through transformers, the pickapic
scorer); ``interface`` holds :class:`ImageTextModel`, what they all return. :func:`load_model`
picks the loader a score/embed job's config asks for. Nothing is unpickled, and without network
the loaders fail within seconds with a :class:`rtpref.hub.HubResourceUnavailable` that says what
to download or which config key to set, instead of hanging on hub retries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rtpref.models.demo_clip import (
    DEMO_CONFIG_NAME,
    DEMO_WEIGHTS_NAME,
    DemoModelConfig,
    build_demo_clip,
    load_demo_clip,
    save_demo_clip,
)
from rtpref.models.interface import ImageTextModel
from rtpref.models.openclip import batched_preprocess, load_open_clip
from rtpref.models.pickscore import load_pickscore

log = logging.getLogger(__name__)

__all__ = [
    "DEMO_CONFIG_NAME",
    "DEMO_WEIGHTS_NAME",
    "DemoModelConfig",
    "ImageTextModel",
    "batched_preprocess",
    "build_demo_clip",
    "load_demo_clip",
    "load_model",
    "load_open_clip",
    "load_pickscore",
    "save_demo_clip",
]


def load_model(
    spec: Mapping[str, Any],
    model_config: str | Path | None = None,
    model_weights: str | Path | None = None,
) -> ImageTextModel:
    """The model a score/embed job asks for: ``spec["kind"]`` is demo, transformers or open_clip.

    ``demo`` loads the files written by the demo_model rule (``model_config``,
    ``model_weights``); the others name hub repos or local paths in ``spec``.
    """
    kind = spec.get("kind")
    if kind == "demo":
        if model_config is None or model_weights is None:
            raise ValueError("the demo model needs its config and weights files")
        model = load_demo_clip(model_config, model_weights)
    elif kind == "transformers":
        model = load_pickscore(spec["model"], spec["processor"])
    elif kind == "open_clip":
        model = load_open_clip(spec["model"], spec.get("pretrained"))
    else:
        raise ValueError(f"unknown model kind {kind!r}; expected demo, transformers or open_clip")
    log.info(
        "loaded %s: feature width %d, logit_scale %.6g",
        model.name,
        model.embed_dim,
        model.logit_scale,
    )
    return model
