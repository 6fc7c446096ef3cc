"""Stage "embedding": the embed rule's inner loop (decode threads feeding the demo CLIP model on
CPU) vs decode-only and model-only rates measured in the same run."""

from __future__ import annotations

import tempfile
from pathlib import Path

from perf.common import SCRATCH_PARENT, best_of, row


def bench_embedding(pairs: int = 1024, batch_pairs: int = 128) -> list[dict]:
    """The embed rule's inner loop vs decode-only and model-only rates, demo model on CPU."""
    import concurrent.futures

    import torch

    from rtpref.embedding import BatchSettings, aligned_batches, encode_shard, prepare_batch
    from rtpref.models import (
        DEMO_CONFIG_NAME,
        DEMO_WEIGHTS_NAME,
        DemoModelConfig,
        load_demo_clip,
        save_demo_clip,
    )
    from rtpref.sources.demo import DemoConfig, write_demo_shards

    torch.set_num_threads(2)  # the embed rule's default threads
    # Two cores split between the stages: one decode thread, one model thread.
    settings = BatchSettings(batch_pairs=batch_pairs, decode_workers=1)
    with tempfile.TemporaryDirectory(dir=SCRATCH_PARENT) as scratch:
        root = Path(scratch)
        raw = root / "shard-0.parquet"
        write_demo_shards(DemoConfig(n_pairs=pairs), [raw])
        save_demo_clip(DemoModelConfig(), root / DEMO_CONFIG_NAME, root / DEMO_WEIGHTS_NAME)
        model = load_demo_clip(root / DEMO_CONFIG_NAME, root / DEMO_WEIGHTS_NAME)
        images = 2 * pairs

        def decode_only() -> list:
            # Decoding and preprocessing alone, with the rule's decode threads.
            with concurrent.futures.ThreadPoolExecutor(settings.decode_workers) as pool:
                futures = [
                    pool.submit(prepare_batch, *item, model, batch_pairs, raw)
                    for item in aligned_batches(raw, batch_pairs)
                ]
                return [future.result() for future in futures]

        prepared = decode_only()  # warm-up, and the inputs of the model-only pass
        decode_seconds = best_of(decode_only, repeats=2)
        # The model alone, with the threads the rule leaves it beside its decode workers.
        torch.set_num_threads(max(1, 2 - settings.decode_workers))
        model_seconds = best_of(
            lambda: [model.encode(batch.pixels, batch.tokens) for batch in prepared], repeats=2
        )
        torch.set_num_threads(2)
        pipeline_seconds = best_of(lambda: encode_shard(raw, model, settings), repeats=2)
    decode_rate, model_rate = images / decode_seconds, images / model_seconds
    pipeline_rate = images / pipeline_seconds
    ratio = pipeline_rate / min(decode_rate, model_rate)
    return [
        row("embedding: decode + preprocess only", decode_rate, "images/s"),
        row("embedding: model only (demo CLIP, CPU)", model_rate, "images/s"),
        row(
            "embedding: embed inner loop",
            pipeline_rate,
            "images/s",
            ratio,
            ">= 0.8 x min",
            ratio >= 0.8,
        ),
    ]
