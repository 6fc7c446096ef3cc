"""Snakemake for real, on a tiny synthetic config, in a scratch directory."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from helpers import Workflow, planned_jobs

from rtpref.names import METRICS
from rtpref.reward_model import RewardModel

pytestmark = pytest.mark.workflow

FIGURES = [
    "mse", "accuracy", "policy_value", "regret", "ddm_check", "nuisance_error", "regret_at_k"
]


def test_end_to_end_rerun_and_determinism(workflow, tiny_config, tmp_path: Path) -> None:
    # Without reward_seed every seed gets its own synthetic world (one data job per seed).
    del tiny_config["synthetic"]["reward_seed"]
    config = workflow.write_config(tiny_config)
    workflow.run("--cores", "2", "--resources", "gpu=2", "--configfile", str(config))
    root = workflow.root / "results" / "tiny"
    summary = pl.read_parquet(root / "summary.parquet")
    expected_rows = len(tiny_config["algorithms"]) * len(tiny_config["sizes"]) * len(
        tiny_config["seeds"])
    assert summary.height == expected_rows
    for column in ("algorithm", "n", "seed", *METRICS, "train_seconds"):
        assert column in summary.columns
    assert sorted(summary["n"].unique().to_list()) == tiny_config["sizes"]
    for seed in tiny_config["seeds"]:
        assert (root / "worlds" / f"seed{seed}" / "chunks" / "test").is_dir()
    assert not (root / "chunks").exists()
    assert summary["data_per_seed"].all()
    for metrics in root.glob("runs/*/n*/seed*/metrics.json"):
        model = RewardModel.from_pretrained(metrics.parent / "model")
        assert model.in_dim == tiny_config["synthetic"]["dim"]
    for figure in FIGURES:
        assert (root / "figures" / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for path in (workflow.root / "logs" / "tiny").rglob("*.log"):
        assert path.stat().st_size >= 0
    assert not list(root.rglob(".*.tmp-*")), "temporary files left behind"

    again = workflow.run("--cores", "2", "--configfile", str(config))
    assert "Nothing to be done" in again.stdout + again.stderr

    # A deleted run is rebuilt by the same command, and the summary follows.
    deleted = root / "runs" / "log_loss" / "n200" / "seed1" / "metrics.json"
    deleted.unlink()
    summary_mtime = (root / "summary.parquet").stat().st_mtime_ns
    workflow.run("--cores", "2", "--configfile", str(config))
    assert deleted.exists(), "a deleted run was not rebuilt"
    assert (root / "summary.parquet").stat().st_mtime_ns > summary_mtime
    keys = ["algorithm", "n", "seed", *METRICS]
    assert pl.read_parquet(root / "summary.parquet").select(keys).equals(summary.select(keys))

    # The same config in a fresh directory gives bitwise-identical metrics.
    fresh_root = tmp_path / "fresh"
    fresh_root.mkdir()
    fresh = Workflow(fresh_root)
    # The summary is all that is compared: the figures would add jobs and prove nothing more.
    summary_path = "results/tiny/summary.parquet"
    fresh.run(summary_path, "--cores", "2", "--configfile", str(fresh.write_config(tiny_config)))
    other = pl.read_parquet(fresh_root / summary_path)
    keys = ["algorithm", "n", "seed", *METRICS]
    assert summary.select(keys).equals(other.select(keys))


def test_one_figure_builds_only_what_it_needs(workflow, tiny_config) -> None:
    config = workflow.write_config(tiny_config)
    target = "results/tiny/figures/mse.png"
    plan = workflow.run(target, "-n", "--cores", "2", "--configfile", str(config))
    jobs = planned_jobs(plan.stdout)
    runs = len(tiny_config["algorithms"]) * len(tiny_config["sizes"]) * len(tiny_config["seeds"])
    assert jobs == {"synthetic_pairs": 1, "enhance": 1, "chunks": 1, "train": runs,
                    "summary": 1, "plot_metric": 1}, plan.stdout
    workflow.run(target, "--cores", "2", "--configfile", str(config))
    assert (workflow.root / target).exists()
    assert not (workflow.root / "results/tiny/figures/ddm_check.png").exists()
    again = workflow.run(target, "--cores", "2", "--configfile", str(config))
    assert "Nothing to be done" in again.stdout + again.stderr


def test_top_level_sweep_keys_can_be_overridden(workflow, tiny_config) -> None:
    config = workflow.write_config(tiny_config)
    plan = workflow.run("-n", "--cores", "2", "--configfile", str(config),
                        "--config", "sizes=[100,200,300]", "seeds=[5]")
    assert planned_jobs(plan.stdout)["train"] == 3 * len(tiny_config["algorithms"])
    # One job per (algorithm, seed) fitting every size: the same runs, fewer processes.
    grouped = workflow.run("-n", "--cores", "2", "--configfile", str(config),
                           "--config", "sizes=[100,200,300]", "seeds=[5]",
                           "sizes_per_train_job=all")
    assert planned_jobs(grouped.stdout)["train"] == len(tiny_config["algorithms"])


def test_asking_for_more_rows_than_exist_fails_before_any_job(workflow, tiny_config) -> None:
    tiny_config["sizes"] = [200, 5000]
    result = workflow.run("--cores", "2", "--configfile", str(workflow.write_config(tiny_config)),
                          check=False)
    assert result.returncode != 0
    assert "sizes [5000] exceed the 600 training pairs" in result.stdout + result.stderr
    assert not (workflow.root / "results").exists()
