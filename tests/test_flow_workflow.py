"""The flow experiment through Snakemake, on a config small enough to run in seconds."""

from __future__ import annotations

import polars as pl
import pytest
from helpers import REPO

pytestmark = pytest.mark.workflow

FIGURES = ["flow_s_curve_fraction", "flow_true_reward", "flow_diversity", "flow_samples"]


def test_flow_workflow_runs_end_to_end_and_resumes_as_a_no_op(workflow) -> None:
    config = str(REPO / ".test" / "config" / "tiny_flow.yaml")
    workflow.run("--cores", "2", "--configfile", config)
    root = workflow.root / "results" / "flowtiny"
    summary = pl.read_parquet(root / "flow" / "summary.parquet")
    # 2 learners (log_loss, the random_choice control) x 1 method x 2 budgets x 1 seed, and A.
    assert summary.height == 2 * 2 + 1
    assert set(summary["learner"].to_list()) == {"A", "log_loss", "random_choice"}
    table = (root / "flow" / "table.md").read_text()
    assert table.count("\n") == 2 + 1 + 2 * 2  # header, A, a row per learner and budget
    for figure in FIGURES:
        assert (root / "figures" / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for rule_log in ("flow/generator_a.log", "flow/rewards/log_loss/n10/seed0.log"):
        assert (workflow.root / "logs" / "flowtiny" / rule_log).exists()
    assert not list(root.rglob(".*.tmp-*")), "temporary files left behind"

    again = workflow.run("--cores", "2", "--configfile", config)
    assert "Nothing to be done" in again.stdout + again.stderr
