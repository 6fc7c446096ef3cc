"""The personalization experiment through Snakemake, on a config small enough to run in seconds."""

from __future__ import annotations

import json

import pytest
from helpers import TEST_CONFIGS

pytestmark = pytest.mark.workflow


def test_personalization_experiment_runs_end_to_end(workflow) -> None:
    config = str(TEST_CONFIGS / "tiny_personalized.yaml")
    workflow.run("--cores", "2", "--configfile", config)
    root = workflow.root / "results" / "persontiny"
    summary = json.loads((root / "personalized" / "summary.json").read_text())
    variants = {(entry["algorithm"], entry["variant"]) for entry in summary["table"]}
    # Every learner globally and personalized; the response-time one also with per-user
    # barriers, and with per-user barriers and non-decision times (t0 > 0 in the config).
    assert variants == {
        ("log_loss", "global"),
        ("log_loss", "personalized"),
        ("orthogonal", "global"),
        ("orthogonal", "personalized"),
        ("orthogonal", "personalized_user_barriers"),
        ("orthogonal", "personalized_user_ddm"),
    }
    for entry in summary["table"]:
        assert entry["seeds"] == 2
        if entry["variant"] != "global":
            assert "seen_mse_minus_global" in entry and "unseen_mse_minus_global" in entry
    seeds = [json.loads((root / "personalized" / f"seed{s}.json").read_text()) for s in (0, 1)]
    ddm_records = [r for records in seeds for r in records if r["variant"].endswith("_ddm")]
    for record in ddm_records:
        assert len(record["non_decision_estimates"]["estimate"]) == record["train_users"]
    assert "corr(t0_u)" in (root / "personalized" / "summary.md").read_text()
    for figure in ("personalized_mse", "barrier_estimates"):
        assert (root / "figures" / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = workflow.run("--cores", "2", "--configfile", config)
    assert "Nothing to be done" in again.stdout + again.stderr
