"""Probe, run in a fresh interpreter by the memory stage: peak extra RSS of one log-loss
training run (reference network, one epoch) on chunk directories written by the stage.

Usage: `python -m perf.probe_memory TRAIN_DIR TEST_DIR ROWS DIM`; prints one JSON line
{"extra_mb", "parameters"}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from perf.rss import peak_mb, start_peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("train_dir", type=Path)
    parser.add_argument("test_dir", type=Path)
    parser.add_argument("rows", type=int)
    parser.add_argument("dim", type=int)
    args = parser.parse_args(argv)

    import torch

    from perf.training import ReferenceRecipe
    from rtpref.learners.networks import RewardNet
    from rtpref.run import run_training

    torch.set_num_threads(2)
    config = ReferenceRecipe()
    net = RewardNet(args.dim, config.log_loss_hidden, config.dropout, config.batch_norm)
    parameters = sum(parameter.numel() for parameter in net.parameters())
    del net
    base = start_peak()
    run_training(
        str(args.train_dir),
        str(args.test_dir),
        "log_loss",
        args.rows,
        0,
        {
            "log_loss_epochs": 1,
            "log_loss_hidden": list(config.log_loss_hidden),
            "dropout": config.dropout,
            "batch_norm": config.batch_norm,
            "validation_fraction": 0.0,
        },
        1.0,
    )
    print(json.dumps({"extra_mb": peak_mb() - base, "parameters": parameters}))


if __name__ == "__main__":
    main()
