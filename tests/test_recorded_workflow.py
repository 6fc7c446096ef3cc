"""Source recorded through Snakemake: a file of choices and times with t0 and an unknown
barrier, calibrated (auto), trained, and summarised without made-up reward metrics."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtpref import ddm
from rtpref.reward_model import RewardModel
from rtpref.sources.synthetic import SyntheticConfig, make_pairs

pytestmark = pytest.mark.workflow


def test_recorded_source_with_auto_calibration(workflow, tiny_config) -> None:
    features, rewards = make_pairs(SyntheticConfig(n_pairs=900, dim=4, hidden=(8,), seed=0))
    drift = rewards.column("reward_1").to_numpy() - rewards.column("reward_2").to_numpy()
    choice, time = ddm.simulate(drift, 1.5, 0, non_decision_time=0.3)
    pq.write_table(
        pa.table(
            {
                "x1": features.column("x1"),
                "x2": features.column("x2"),
                "choice": np.where(choice > 0, 1, 0),  # the 1/0 coding
                "response_time": time,
            }
        ),
        workflow.root / "mine.parquet",
    )
    config = {
        **tiny_config,
        "name": "rec",
        "source": "recorded",
        "sizes": [200],
        "seeds": [0],
        "algorithms": ["orthogonal"],
        "recorded": {"pairs": ["mine.parquet"]},
        "ddm": {"barrier": "auto", "non_decision_time": "auto"},
        "calibration": {"hidden": [8], "epochs": 3, "bootstrap": 3},
    }
    del config["synthetic"], config["figures"]
    workflow.run("--cores", "2", "--configfile", str(workflow.write_config(config)))
    root = workflow.root / "results" / "rec"
    calibration = json.loads((root / "calibration.json").read_text())
    # t0 is pinned by the fastest responses: close even with 600 rows and a crude fit.
    assert calibration["non_decision_time"] == pytest.approx(0.3, rel=0.1)
    run = root / "runs/orthogonal/n200/seed0"
    model = RewardModel.from_pretrained(run / "model")
    assert model.barrier == calibration["barrier"]
    assert model.non_decision_time == calibration["non_decision_time"]
    summary = pl.read_parquet(root / "summary.parquet")
    assert summary["mse"].is_null().all() and summary["regret_at_4"].is_null().all()
    for name in ("accuracy", "choice_log_likelihood", "time_log_likelihood"):
        assert summary[name].is_finite().all()
        assert (root / "figures" / f"{name}.png").exists()
    assert not (root / "figures" / "mse.png").exists()
