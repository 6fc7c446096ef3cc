"""Rewards of images: reward = logit_scale * cos(image, text), the PickScore formula."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from rtpref.embedding import BatchSettings, EncodedPairs, encode_shard
from rtpref.models import ImageTextModel


def rewards_table(encoded: EncodedPairs, logit_scale: float) -> pa.Table:
    """reward_1 is the reward of jpg_0 (item x1), reward_2 that of jpg_1 (item x2)."""
    text = encoded.text.astype(np.float64)
    # Features are unit vectors, so the dot product is the cosine.
    reward_1 = logit_scale * np.einsum("ij,ij->i", encoded.image_0.astype(np.float64), text)
    reward_2 = logit_scale * np.einsum("ij,ij->i", encoded.image_1.astype(np.float64), text)
    return pa.table(
        {
            "pair_index": pa.array(encoded.pair_index, pa.int64()),
            "reward_1": pa.array(reward_1, pa.float64()),
            "reward_2": pa.array(reward_2, pa.float64()),
        }
    )


def score_shard(
    raw_path: str | Path, model: ImageTextModel, settings: BatchSettings | None = None
) -> pa.Table:
    """Rewards of both images of every pair of a raw shard, in pair order."""
    return rewards_table(encode_shard(raw_path, model, settings), model.logit_scale)
