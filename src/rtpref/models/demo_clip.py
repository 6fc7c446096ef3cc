"""The demo source's tiny CLIP, both its scorer and its embedder.

An open_clip CLIP (a real ViT and text transformer, small enough for a laptop CPU) built from a
fixed seed with random weights, saved once as ``open_clip_config.json`` +
``open_clip_model.safetensors`` (open_clip's ``local-dir:`` layout) and loaded by path. Weights
are only read as safetensors, never unpickled.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import torch

from rtpref.models.interface import ImageTextModel
from rtpref.models.openclip import LOCAL_DIR_CONFIG_NAME, load_open_clip

log = logging.getLogger(__name__)

DEMO_CONFIG_NAME = LOCAL_DIR_CONFIG_NAME
DEMO_WEIGHTS_NAME = "open_clip_model.safetensors"


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
