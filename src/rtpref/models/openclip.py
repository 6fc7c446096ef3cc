"""open_clip models: the embedder of the pickapic source, and the loader of the demo CLIP.

A model is named by a built-in architecture + pretrained tag (``ViT-H-14`` /
``laion2b_s32b_b79k``) or checkpoint file, or by ``local-dir:/path`` / ``hf-hub:org/repo``.
Weights are loaded with ``weights_only=True``; a tag that is not in the local Hugging Face cache
is only downloaded if the hub answers (:func:`rtpref.hub.require_hub`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rtpref.hub import (
    LOCAL_DIR_CONFIG_NAME,
    hf_remedy,
    require_checkpoint_file,
    require_hub,
    require_local_dir,
)
from rtpref.models.interface import ImageTextModel

__all__ = ["LOCAL_DIR_CONFIG_NAME", "batched_preprocess", "load_open_clip"]


def _open_clip_hub_files(model_name: str, pretrained: str) -> tuple[str, list[str]] | None:
    """(repo, candidate file names) of a pretrained tag hosted on the HF hub, or None."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model_name, pretrained) or {}
    hub = cfg.get("hf_hub", "")
    if not hub:
        return None
    # open_clip's convention: "org/repo/" means the default file names, "org/repo/file" one file.
    repo, filename = os.path.split(hub)
    if filename:
        stem = filename.rsplit(".", 1)[0]
        return repo, [f"{stem}.safetensors", filename]
    return repo, ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]


def _open_clip_cached_weights(model_name: str, pretrained: str) -> str | None:
    """Path of a pretrained tag's weights in the local HF cache, or None."""
    from huggingface_hub import try_to_load_from_cache

    files = _open_clip_hub_files(model_name, pretrained)
    if files is None:
        return None
    repo, names = files
    for name in names:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return found
    return None


def batched_preprocess(
    transform: Callable[[Image.Image], torch.Tensor],
) -> Callable[[Sequence[Image.Image]], torch.Tensor]:
    """Apply a torchvision ``Compose`` to a list of images, the tensor steps once per batch.

    The PIL steps (resize, crop, RGB) run per image in C; ``ToTensor`` and ``Normalize`` run on
    the stacked batch. Those are elementwise, so the result is bitwise the per-image result, but
    the per-image Python overhead, which dominates for small images, is gone.
    """
    from torchvision import transforms

    def per_image(images: Sequence[Image.Image]) -> torch.Tensor:
        return torch.stack([transform(image) for image in images])

    steps = list(getattr(transform, "transforms", []))
    to_tensor = [i for i, step in enumerate(steps) if isinstance(step, transforms.ToTensor)]
    if len(to_tensor) != 1 or not all(
        isinstance(step, transforms.Normalize) for step in steps[to_tensor[0] + 1 :]
    ):
        return per_image
    pil_steps, tensor_steps = steps[: to_tensor[0]], steps[to_tensor[0] + 1 :]

    def batched(images: Sequence[Image.Image]) -> torch.Tensor:
        arrays = []
        for image in images:
            for step in pil_steps:
                image = step(image)
            if not isinstance(image, Image.Image) or image.mode != "RGB":
                return per_image(images)
            arrays.append(np.asarray(image))
        # ToTensor: HWC uint8 -> CHW float32 / 255, as torchvision does it per image.
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
        batch = batch.to(dtype=torch.get_default_dtype()).div(255)
        for step in tensor_steps:
            batch = step(batch)
        return batch

    return batched


def _open_clip_embed_dim(model: torch.nn.Module) -> int:
    visual_dim = getattr(model.visual, "output_dim", None)
    if visual_dim is not None:
        return int(visual_dim)
    return int(model.text_projection.shape[1])


def load_open_clip(
    model_name: str, pretrained: str | None, config_key: str = "pickapic.embedder.pretrained"
) -> ImageTextModel:
    """An open_clip model by built-in name + pretrained tag or checkpoint file, or by
    ``local-dir:/path`` / ``hf-hub:org/repo``; weights are loaded with ``weights_only=True``."""
    import open_clip

    if model_name.startswith("local-dir:"):
        require_local_dir(model_name)
        source = "local-dir:" + str(Path(model_name.removeprefix("local-dir:")).expanduser())
    elif model_name.startswith("hf-hub:"):
        repo = model_name.removeprefix("hf-hub:")
        require_hub(f"open_clip model {repo}", hf_remedy(repo, "pickapic.embedder.model"))
        source = model_name
    else:
        if model_name.replace("/", "-") not in open_clip.list_models():
            raise ValueError(
                f"pickapic.embedder.model: unknown open_clip model {model_name!r}; use a "
                "built-in name (open_clip.list_models()), local-dir:/path or hf-hub:org/repo"
            )
        source = model_name
        if pretrained and pretrained.startswith("~"):
            pretrained = str(Path(pretrained).expanduser())
        if pretrained and not Path(pretrained).is_file():
            require_checkpoint_file(pretrained, config_key)
            # open_clip returns {} (not None) for a tag it does not know.
            if not open_clip.get_pretrained_cfg(model_name, pretrained):
                raise ValueError(
                    f"{config_key}={pretrained!r} is neither a file nor a pretrained tag of "
                    f"{model_name}; tags: {open_clip.list_pretrained_tags_by_model(model_name)}; "
                    f"or set {config_key} to a local checkpoint file"
                )
            cached = _open_clip_cached_weights(model_name, pretrained)
            if cached is not None:
                pretrained = cached
            else:
                files = _open_clip_hub_files(model_name, pretrained)
                repo = files[0] if files else f"{model_name}/{pretrained}"
                require_hub(
                    f"open_clip weights {model_name}/{pretrained} ({repo})",
                    hf_remedy(repo, config_key) + " or a local checkpoint file",
                )
    model, _, preprocess = open_clip.create_model_and_transforms(
        source, pretrained=pretrained, weights_only=True
    )
    tokenizer = open_clip.get_tokenizer(source)
    model.eval()
    preprocess_images = batched_preprocess(preprocess)

    def tokenize(captions: Sequence[str]) -> dict[str, torch.Tensor]:
        return {"text": tokenizer(list(captions))}

    return ImageTextModel(
        name=f"open_clip:{model_name}" + (f"/{Path(pretrained).name}" if pretrained else ""),
        module=model,
        preprocess=preprocess_images,
        tokenize=tokenize,
        image_features=model.encode_image,
        text_features=lambda tokens: model.encode_text(tokens["text"]),
        logit_scale=float(model.logit_scale.detach().exp()),
        embed_dim=_open_clip_embed_dim(model),
    )
