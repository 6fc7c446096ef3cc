"""The one interface of every scorer and embedder: :class:`ImageTextModel`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
from PIL import Image


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
