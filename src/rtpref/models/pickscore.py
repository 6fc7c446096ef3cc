"""PickScore, the scorer of the pickapic source: a transformers CLIP model and its processor.

``yuvalkirstain/PickScore_v1`` with the processor ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``,
through transformers ``AutoModel``/``AutoProcessor``; a local ``save_pretrained`` directory
works too. Files come from a local directory or the Hugging Face cache, and from the hub only if
it answers (:func:`rtpref.hub.require_hub`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from rtpref.hub import load_pretrained
from rtpref.models.interface import ImageTextModel

log = logging.getLogger(__name__)


def _pooled(output: Any) -> torch.Tensor:
    # transformers >= 5 returns a model output whose pooler_output is the projected feature.
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def load_pickscore(model_name: str, processor_name: str) -> ImageTextModel:
    """PickScore-style scorer: a transformers CLIPModel and its processor."""
    from transformers import AutoModel, AutoProcessor
    from transformers.utils import logging as transformers_logging

    # Progress bars would go to the terminal, not the rule's log.
    transformers_logging.disable_progress_bar()
    processor = load_pretrained(
        AutoProcessor, processor_name, "processor", "pickapic.scorer.processor"
    )
    model = load_pretrained(AutoModel, model_name, "scoring model", "pickapic.scorer.model")
    model.eval()
    for method in ("get_image_features", "get_text_features"):
        if not hasattr(model, method):
            raise TypeError(
                f"{model_name}: {type(model).__name__} has no {method}; not a CLIP model"
            )
    image_processor = processor.image_processor
    tokenizer = processor.tokenizer
    # CLIP's 77 tokens, or fewer if the text tower has fewer positions.
    max_text_length = min(77, int(model.config.text_config.max_position_embeddings))

    def preprocess(images: Sequence[Image.Image]) -> torch.Tensor:
        return image_processor(images=list(images), return_tensors="pt")["pixel_values"]

    def tokenize(captions: Sequence[str]) -> dict[str, torch.Tensor]:
        encoded = tokenizer(
            list(captions),
            padding="max_length",
            truncation=True,
            max_length=max_text_length,
            return_tensors="pt",
        )
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    return ImageTextModel(
        name=f"transformers:{model_name}",
        module=model,
        preprocess=preprocess,
        tokenize=tokenize,
        image_features=lambda pixels: _pooled(model.get_image_features(pixel_values=pixels)),
        text_features=lambda tokens: _pooled(model.get_text_features(**tokens)),
        logit_scale=float(model.logit_scale.detach().exp()),
        embed_dim=int(model.config.projection_dim),
    )
