"""Image-text models behind the score and embed rules, with one interface for all of them.

- the demo's tiny CLIP: built with open_clip from a fixed seed (random weights), saved once as
  ``open_clip_config.json`` + ``open_clip_model.safetensors`` (open_clip's ``local-dir:`` layout),
  loaded by path; it is both the scorer and the embedder of the demo source;
- PickScore (``yuvalkirstain/PickScore_v1`` + processor ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``)
  through transformers ``AutoModel``/``AutoProcessor``; a local ``save_pretrained`` directory works;
- open_clip models (``ViT-H-14`` / ``laion2b_s32b_b79k``), a local checkpoint file as
  ``pretrained``, or ``local-dir:/path`` / ``hf-hub:org/repo`` names.

Nothing is unpickled: weights are safetensors or loaded with ``torch.load(weights_only=True)``.
Without network the loaders fail within seconds with a :class:`ModelUnavailable` that says what
to download or which config key to set, instead of hanging on hub retries.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)

DEMO_CONFIG_NAME = "open_clip_config.json"
DEMO_WEIGHTS_NAME = "open_clip_model.safetensors"
HUB_PROBE_SECONDS = 5.0
_TRUE = {"1", "true", "yes", "on"}


class ModelUnavailable(RuntimeError):
    """A model (or dataset) is neither available locally nor downloadable right now."""


# ---------------------------------------------------------------------------------------------
# Hub access: decide quickly whether a download can work at all.


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
    """Raise ModelUnavailable naming ``what`` and the ``remedy`` unless the hub answers."""
    reason = hub_unavailable_reason()
    if reason is not None:
        raise ModelUnavailable(f"{what} is not available locally and {reason}. {remedy}")


def _hf_remedy(repo: str, config_key: str, repo_type: str = "model") -> str:
    kind = "" if repo_type == "model" else f" --repo-type {repo_type}"
    return (
        f"Download it on a machine with network (`hf download {repo}{kind}`, then copy the "
        f"Hugging Face cache) or set {config_key} to a local directory"
    )


# ---------------------------------------------------------------------------------------------
# The common interface of scorers and embedders.


@dataclasses.dataclass
class ImageTextModel:
    """Images and captions -> L2-normalised features; reward = logit_scale * cos(image, text).

    ``preprocess`` (PIL images -> (N, 3, H, W) float32) and ``tokenize`` (captions -> tensors of a
    fixed shape) run on CPU in decode threads; ``encode`` runs the model on ``device``.
    Text is padded to a fixed length so that a row's result never depends on its batch-mates.
    """

    name: str
    module: torch.nn.Module
    preprocess: Callable[[Sequence[Image.Image]], torch.Tensor]
    tokenize: Callable[[Sequence[str]], dict[str, torch.Tensor]]
    image_features: Callable[[torch.Tensor], torch.Tensor]
    text_features: Callable[[dict[str, torch.Tensor]], torch.Tensor]
    logit_scale: float
    embed_dim: int
    device: str = "cpu"

    def to(self, device: str) -> ImageTextModel:
        self.module.to(device)
        self.device = device
        return self

    @torch.inference_mode()
    def encode(
        self, pixels: torch.Tensor, tokens: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised (image, text) features as float32 on CPU."""
        on_gpu = self.device.startswith("cuda")
        pixels = pixels.to(self.device, non_blocking=on_gpu)
        tokens = {key: value.to(self.device, non_blocking=on_gpu) for key, value in tokens.items()}
        # Mixed precision only on GPU: on CPU, fp32 is both faster and exact.
        with torch.autocast("cuda", dtype=torch.float16, enabled=on_gpu):
            image = self.image_features(pixels)
            text = self.text_features(tokens)
        image = torch.nn.functional.normalize(image.float(), dim=-1)
        text = torch.nn.functional.normalize(text.float(), dim=-1)
        return image.cpu(), text.cpu()


# ---------------------------------------------------------------------------------------------
# The demo's tiny CLIP.


@dataclasses.dataclass(frozen=True)
class DemoModelConfig:
    """Size of the demo CLIP: small enough for a laptop CPU, a real ViT + text transformer."""

    seed: int = 0
    embed_dim: int = 64
    image_size: int = 32
    patch_size: int = 8
    vision_width: int = 64
    vision_layers: int = 2
    text_width: int = 64
    text_heads: int = 4
    text_layers: int = 2
    context_length: int = 24

    def open_clip_config(self) -> dict[str, Any]:
        return {
            "embed_dim": self.embed_dim,
            "vision_cfg": {
                "image_size": self.image_size,
                "patch_size": self.patch_size,
                "width": self.vision_width,
                "layers": self.vision_layers,
                "head_width": max(1, self.vision_width // 4),
            },
            "text_cfg": {
                "context_length": self.context_length,
                "vocab_size": 49408,  # open_clip's bundled BPE vocabulary (no download)
                "width": self.text_width,
                "heads": self.text_heads,
                "layers": self.text_layers,
            },
        }


def build_demo_clip(config: DemoModelConfig) -> torch.nn.Module:
    """A randomly initialised open_clip CLIP, a function of ``config`` (seed included)."""
    import open_clip

    model_cfg = config.open_clip_config()
    torch.manual_seed(config.seed)
    model = open_clip.CLIP(
        embed_dim=model_cfg["embed_dim"],
        vision_cfg=open_clip.CLIPVisionCfg(**model_cfg["vision_cfg"]),
        text_cfg=open_clip.CLIPTextCfg(**model_cfg["text_cfg"]),
    )
    return model.eval()


def save_demo_clip(
    config: DemoModelConfig, config_path: str | Path, weights_path: str | Path
) -> None:
    """Build the demo CLIP and write it in open_clip's ``local-dir:`` layout, atomically."""
    from safetensors.torch import save_file

    from rtpref.io import atomic_path

    model = build_demo_clip(config)
    # safetensors refuses tensors that share storage; contiguous copies keep it a plain file.
    state = {key: value.detach().contiguous().clone() for key, value in model.state_dict().items()}
    payload = {
        "model_cfg": config.open_clip_config(),
        "preprocess_cfg": {"mean": list(_CLIP_MEAN), "std": list(_CLIP_STD)},
        "rtpref_demo_config": dataclasses.asdict(config),
    }
    with atomic_path(weights_path) as temporary:
        save_file(state, str(temporary), metadata={"format": "pt"})
    with atomic_path(config_path) as temporary:
        temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    log.info(
        "demo CLIP: %d parameters, embed_dim %d, image %d px",
        sum(value.numel() for value in state.values()),
        config.embed_dim,
        config.image_size,
    )


_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def load_demo_clip(config_path: str | Path, weights_path: str | Path) -> ImageTextModel:
    """The demo CLIP saved by :func:`save_demo_clip`, from its two files."""
    config_path, weights_path = Path(config_path), Path(weights_path)
    if config_path.parent != weights_path.parent:
        raise ValueError(f"{config_path} and {weights_path} must be in the same directory")
    if weights_path.name != DEMO_WEIGHTS_NAME or config_path.name != DEMO_CONFIG_NAME:
        raise ValueError(
            f"expected {DEMO_CONFIG_NAME} and {DEMO_WEIGHTS_NAME} in {config_path.parent}"
        )
    # open_clip's local-dir loader takes any *.safetensors/*.bin/*.pth it finds in the
    # directory, so make sure the file it prefers is there and really is safetensors.
    _check_safetensors(weights_path)
    return load_open_clip(f"local-dir:{config_path.parent}", None)


def _check_safetensors(path: Path) -> None:
    """Refuse weights that are missing or not safetensors (a pickle could run code)."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise FileNotFoundError(f"{path}: model weights file does not exist")
    try:
        with safe_open(str(path), framework="pt"):
            pass
    except (SafetensorError, OSError) as error:
        raise ValueError(
            f"{path}: not a safetensors file ({error}); model weights are only read as "
            "safetensors or weights-only checkpoints, never unpickled"
        ) from error


# ---------------------------------------------------------------------------------------------
# open_clip models (embedder of the pickapic source; the demo model).


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
        directory = Path(model_name.removeprefix("local-dir:"))
        if not (directory / DEMO_CONFIG_NAME).is_file():
            raise FileNotFoundError(
                f"{directory}: no {DEMO_CONFIG_NAME} (open_clip local-dir layout)"
            )
        source = model_name
    elif model_name.startswith("hf-hub:"):
        repo = model_name.removeprefix("hf-hub:")
        require_hub(f"open_clip model {repo}", _hf_remedy(repo, "pickapic.embedder.model"))
        source = model_name
    else:
        if model_name.replace("/", "-") not in open_clip.list_models():
            raise ValueError(
                f"pickapic.embedder.model: unknown open_clip model {model_name!r}; use a "
                "built-in name (open_clip.list_models()), local-dir:/path or hf-hub:org/repo"
            )
        source = model_name
        if pretrained and not Path(pretrained).is_file():
            if open_clip.get_pretrained_cfg(model_name, pretrained) is None:
                raise ValueError(
                    f"{config_key}={pretrained!r} is neither a file nor a pretrained tag of "
                    f"{model_name}; tags: {open_clip.list_pretrained_tags_by_model(model_name)}"
                )
            cached = _open_clip_cached_weights(model_name, pretrained)
            if cached is not None:
                pretrained = cached
            else:
                files = _open_clip_hub_files(model_name, pretrained)
                repo = files[0] if files else f"{model_name}/{pretrained}"
                require_hub(
                    f"open_clip weights {model_name}/{pretrained} ({repo})",
                    _hf_remedy(repo, config_key) + " or a local checkpoint file",
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


# ---------------------------------------------------------------------------------------------
# transformers models (PickScore).


def _from_pretrained(loader: Any, name: str, what: str, config_key: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(name)``: a local dir, the HF cache, or (if reachable) the hub."""
    if Path(name).exists():
        return loader.from_pretrained(name, local_files_only=True, **kwargs)
    try:
        return loader.from_pretrained(name, local_files_only=True, **kwargs)
    except (OSError, ValueError) as cached_error:
        log.info("%s %s not in the local cache (%s)", what, name, cached_error)
    require_hub(f"{what} {name!r}", _hf_remedy(name, config_key))
    return loader.from_pretrained(name, **kwargs)


def _pooled(output: Any) -> torch.Tensor:
    # transformers >= 5 returns a model output whose pooler_output is the projected feature.
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def load_pickscore(model_name: str, processor_name: str) -> ImageTextModel:
    """PickScore-style scorer: a transformers CLIPModel and its processor."""
    from transformers import AutoModel, AutoProcessor
    from transformers.utils import logging as transformers_logging

    # Progress bars would go to the terminal, not the rule's log.
    transformers_logging.disable_progress_bar()
    processor = _from_pretrained(
        AutoProcessor, processor_name, "processor", "pickapic.scorer.processor"
    )
    model = _from_pretrained(AutoModel, model_name, "scoring model", "pickapic.scorer.model")
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


# ---------------------------------------------------------------------------------------------


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
