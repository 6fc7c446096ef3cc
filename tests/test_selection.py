"""Model selection reads only the run's own training rows; the records say what it chose."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rtpref import ddm
from rtpref.chunks import ChunkWriter, features_to_arrow
from rtpref.run import run_training
from rtpref.summary import collect

TRAINING = {
    "hidden": [8],
    "log_loss_hidden": [8],
    "dropout": 0.0,
    "batch_norm": False,
    "learning_rate": 3e-3,
    "batch_size": 64,
    "log_loss_epochs": 6,
    "stage1_epochs": 6,
    "stage2_epochs": 6,
    "patience": 2,
}


def write_chunks(directory: Path, rows: int, seed: int, poison: bool = False) -> None:
    """Pairs with a linear reward; ``poison`` makes every label and feature garbage (finite,
    so that loading still succeeds) and swaps the two items of each pair."""
    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal((rows, 3)).astype(np.float32)
    x2 = rng.standard_normal((rows, 3)).astype(np.float32)
    r1, r2 = x1 @ np.array([1.0, -1.0, 0.5]), x2 @ np.array([1.0, -1.0, 0.5])
    choice, time = ddm.simulate(r1 - r2, 1.0, rng)
    if poison:
        x1, x2 = 1e3 * x2, -x1
        r1, r2 = rng.normal(size=rows) * 50, rng.normal(size=rows) * 50
        choice, time = -choice, time * 1e3
    directory.mkdir(parents=True)
    writer = ChunkWriter(directory, 3, rows_per_chunk=rows)
    writer.append(
        pa.table(
            {
                "pair_index": np.arange(rows),
                "x1": features_to_arrow(x1),
                "x2": features_to_arrow(x2),
                "reward_1": r1,
                "reward_2": r2,
                "choice": choice.astype(np.int8),
                "response_time": time,
            }
        )
    )
    writer.close()


@pytest.mark.parametrize("algorithm", ["log_loss", "orthogonal_crossfit"])
def test_poisoned_test_rows_change_no_selection(tmp_path: Path, algorithm: str) -> None:
    write_chunks(tmp_path / "train", 300, seed=0)
    write_chunks(tmp_path / "test", 200, seed=1)
    write_chunks(tmp_path / "poisoned", 200, seed=1, poison=True)

    def run(test: str) -> dict:
        return run_training(
            tmp_path / "train", tmp_path / test, algorithm, 250, 0, TRAINING, barrier=1.0
        )

    clean, poisoned = run("test"), run("poisoned")
    assert clean["selection"] == poisoned["selection"]
    assert clean["validation_choice_log_loss"] == poisoned["validation_choice_log_loss"]
    assert clean["mse"] != poisoned["mse"]  # the poison does reach the final evaluation
    for stage, record in clean["selection"].items():
        assert record["epochs_chosen"] <= record["epochs_run"] <= 6, stage
        assert len(record["validation_curve"]) == record["epochs_run"]
    assert clean["validation_rows"] == 50 and not clean["all_training_rows"]
    if algorithm == "orthogonal_crossfit":
        assert {"fold1_stage1_time", "fold2_stage1_reward", "stage2"} <= set(clean["selection"])
        assert clean["time_rmse"] > 0 and clean["stage1_diff_rmse"] > 0
    else:
        assert clean["time_rmse"] is None

    (tmp_path / "metrics.json").write_text(json.dumps(clean))
    summary = collect([tmp_path / "metrics.json"])
    stage = next(iter(clean["selection"]))
    assert summary[f"{stage}_epochs"][0] == clean["selection"][stage]["epochs_chosen"]
    assert summary["seeds_differ_in"][0] == "data and initialisation"


def test_interval_table_flags_only_increases_beyond_the_intervals() -> None:
    import polars as pl

    from rtpref.summary import increases_beyond_interval, interval_table, markdown_table

    def runs(algorithm: str, size: int, values: list[float]) -> list[dict]:
        return [
            {"algorithm": algorithm, "n": size, "seed": i, "mse": v} for i, v in enumerate(values)
        ]

    summary = pl.DataFrame(
        runs("flat", 100, [1.0, 1.2, 0.8])
        + runs("flat", 200, [1.1, 0.9, 1.3])  # higher mean, overlapping interval
        + runs("worse", 100, [1.0, 1.01, 0.99])
        + runs("worse", 200, [2.0, 2.01, 1.99])
    )
    table = interval_table(summary)
    assert table.height == 4 and set(table["seeds"]) == {3}
    assert increases_beyond_interval(table) == ["worse: n=100 -> n=200"]
    text = markdown_table(table, ["worse", "flat"])
    assert text.splitlines()[2].startswith("| worse | 1.00 ± ")
