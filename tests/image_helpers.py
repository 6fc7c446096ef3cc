"""Local stand-ins for the hub: a tiny transformers CLIP with its processor, a tiny open_clip
model, and a small Parquet dataset in the Pick-a-Pic schema. All built offline, in seconds."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from helpers import load_test_config
from PIL import Image


def tiny_demo_config(shards: int) -> dict:
    """The demo source at a size that runs to chunks in well under a minute, in ``shards``."""
    return load_test_config("tiny_demo") | {"shards": shards}


def tiny_demo_model() -> dict:
    """Settings of the tiny demo CLIP of .test/config/tiny_demo.yaml."""
    return load_test_config("tiny_demo")["demo"]["model"]


# ---------------------------------------------------------------------------------------------
# A tiny transformers CLIP ("PickScore") with a locally built tokenizer and image processor.


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP byte-level BPE alphabet: one printable unicode symbol per byte value."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols = {byte: chr(byte) for byte in printable}
    extra = 0
    for byte in range(256):
        if byte not in symbols:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return [symbols[byte] for byte in range(256)]


def save_tiny_transformers_clip(model_dir: Path, processor_dir: Path) -> None:
    """CLIPModel with small sizes, and a CLIPProcessor with a generated BPE vocabulary."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    symbols = _byte_symbols()
    vocab = {symbol: index for index, symbol in enumerate(symbols)}
    for symbol in symbols:
        vocab[f"{symbol}</w>"] = len(vocab)
    merges = [("t", "h"), ("th", "e</w>"), ("o", "n</w>"), ("a", "n")]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(
        processor_dir
    )
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(model_dir)


def save_tiny_open_clip(directory: Path) -> None:
    """A tiny open_clip model in open_clip's local-dir layout (config JSON + safetensors)."""
    from rtpref.models import DEMO_CONFIG_NAME, DEMO_WEIGHTS_NAME, DemoModelConfig, save_demo_clip

    settings = {**tiny_demo_model(), "seed": 7, "embed_dim": 12}
    save_demo_clip(
        DemoModelConfig(**settings), directory / DEMO_CONFIG_NAME, directory / DEMO_WEIGHTS_NAME
    )


# ---------------------------------------------------------------------------------------------
# A small local dataset in the full Pick-a-Pic schema (the hub's columns, not only ours).

PICKAPIC_SCHEMA = pa.schema(
    [
        ("are_different", pa.bool_()),
        ("best_image_uid", pa.string()),
        ("caption", pa.string()),
        ("created_at", pa.timestamp("ns")),
        ("has_label", pa.bool_()),
        ("image_0_uid", pa.string()),
        ("image_0_url", pa.string()),
        ("image_1_uid", pa.string()),
        ("image_1_url", pa.string()),
        ("jpg_0", pa.binary()),
        ("jpg_1", pa.binary()),
        ("label_0", pa.float64()),
        ("label_1", pa.float64()),
        ("model_0", pa.string()),
        ("model_1", pa.string()),
        ("ranking_id", pa.int64()),
        ("user_id", pa.int64()),
        ("num_example_per_prompt", pa.int64()),
        ("__index_level_0__", pa.int64()),
    ]
)
CAPTIONS = ["a red fox in the snow", "two blue cars", "an old castle on a hill", "the moon"]


def _jpeg(rng: np.random.Generator, size: int = 40) -> bytes:
    pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def pickapic_rows(count: int, tie_rows: set[int], corrupt_rows: set[int], seed: int) -> list[dict]:
    """Rows in the Pick-a-Pic schema; ``tie_rows`` are ties, ``corrupt_rows`` have bad jpg_1."""
    rng = np.random.default_rng(seed)
    rows = []
    start = datetime.datetime(2023, 5, 1)
    for row in range(count):
        first_wins = bool(rng.random() < 0.5)
        label_0, label_1 = (1.0, 0.0) if first_wins else (0.0, 1.0)
        if row in tie_rows:
            label_0 = label_1 = 0.5
        jpg_1 = _jpeg(rng)
        if row in corrupt_rows:
            jpg_1 = jpg_1[: len(jpg_1) // 3]  # a truncated JPEG: the header parses, data is short
        rows.append(
            {
                "are_different": True,
                "best_image_uid": f"img-{seed}-{row}-{0 if first_wins else 1}",
                "caption": CAPTIONS[row % len(CAPTIONS)],
                "created_at": start + datetime.timedelta(minutes=row),
                "has_label": True,
                "image_0_uid": f"img-{seed}-{row}-0",
                "image_0_url": f"https://example.invalid/{seed}/{row}/0.jpg",
                "image_1_uid": f"img-{seed}-{row}-1",
                "image_1_url": f"https://example.invalid/{seed}/{row}/1.jpg",
                "jpg_0": _jpeg(rng),
                "jpg_1": jpg_1,
                "label_0": label_0,
                "label_1": label_1,
                "model_0": "sd-tiny",
                "model_1": "sd-tiny-2",
                "ranking_id": 1000 * seed + row,
                "user_id": int(rng.integers(1, 20)),
                "num_example_per_prompt": 1,
                "__index_level_0__": row,
            }
        )
    return rows


def save_pickapic_parquet(directory: Path, rows: list[dict], split: str, files: int) -> list[Path]:
    """Write ``rows`` as ``files`` hub-style files ``data/{split}-0000i-of-0000n-*.parquet``."""
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    paths = []
    edges = np.linspace(0, len(rows), files + 1).astype(int)
    for index in range(files):
        path = data / f"{split}-{index:05d}-of-{files:05d}-{index:04x}beef.parquet"
        part = rows[edges[index] : edges[index + 1]]
        pq.write_table(pa.Table.from_pylist(part, schema=PICKAPIC_SCHEMA), path, row_group_size=7)
        paths.append(path)
    return paths
