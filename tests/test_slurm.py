"""The SLURM profile against a real SLURM: `snakemake --profile profiles/slurm` on a tiny config.

Needs the single-node test cluster of tests/slurm/up.sh (two fake GPUs) and
RTPREF_SLURM_TESTS=1, which .ci/run sets after starting it:

    bash tests/slurm/up.sh && RTPREF_SLURM_TESTS=1 .venv/bin/pytest tests/test_slurm.py
    bash tests/slurm/down.sh

Evidence that SLURM ran the jobs comes from SLURM itself: every job id Snakemake reports is
looked up with `scontrol show job` (the cluster keeps finished jobs for 10 minutes), and its
comment (the rule), state, working directory and GPU request are checked there.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from helpers import SNAKEMAKE, Workflow, load_test_config

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

SLURM_TIMEOUT = 900  # seconds for one Snakemake run through SLURM; a bound, never a threshold
LOCAL_TIMEOUT = 300
NAME = "slurmtiny"
CONFIG = load_test_config("tiny_synthetic") | {
    "name": NAME,
    "sizes": [200],
    "seeds": [0, 1],
    "algorithms": ["log_loss", "orthogonal"],
}
GPU_RULES = {"train"}
CPU_RULES = {
    "synthetic_pairs",
    "enhance",
    "chunks",
    "summary",
    "plot_metric",
    "ddm_check",
    "nuisance_error",
    "plot_regret_at_k",
}
FIGURES = ("mse", "accuracy", "policy_value", "regret")
PROFILE = ["--profile", "profiles/slurm", "--configfile", "test.yaml", "--verbose"]
WALL_CLOCK_COLUMNS = ("train_seconds", "peak_memory_mb")


def require_slurm() -> None:
    if os.environ.get("RTPREF_SLURM_TESTS") != "1":
        pytest.skip("set RTPREF_SLURM_TESTS=1 with a cluster up (bash tests/slurm/up.sh)")
    # Whoever set the variable promised a cluster: a dead one is a failure, not a skip.
    try:
        sinfo = subprocess.run(
            ["sinfo", "--noheader", "--format=%T %G"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"RTPREF_SLURM_TESTS=1 but sinfo does not work: {error}")
    if sinfo.returncode != 0 or "gpu" not in sinfo.stdout:
        pytest.fail(
            "RTPREF_SLURM_TESTS=1 but no SLURM node with GPUs answers "
            f"(sinfo exit {sinfo.returncode}: {sinfo.stdout.strip()} {sinfo.stderr.strip()}); "
            "start the test cluster with `bash tests/slurm/up.sh`"
        )


@dataclass
class Run:
    returncode: int
    log: str


def snakemake(root: Path, args: list[str], timeout: float, name: str) -> Run:
    """Run Snakemake in its own session; on timeout interrupt it (so it cancels its SLURM
    jobs), then kill what is left."""
    log_path = root / f"{name}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [*SNAKEMAKE, *args],
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
            raise AssertionError(
                f"snakemake {' '.join(args)} took over {timeout} s; log tail:\n"
                + log_path.read_text()[-6000:]
            ) from None
    return Run(process.returncode, log_path.read_text())


def check_ok(run: Run) -> Run:
    assert run.returncode == 0, f"snakemake exited {run.returncode}:\n{run.log[-8000:]}"
    return run


def submitted_job_ids(log: str) -> list[str]:
    return re.findall(r"has been submitted with SLURM jobid (\d+)", log)


def sbatch_calls(log: str) -> dict[str, str]:
    """The sbatch command line of each submitted job (without the wrapped command), by its
    SLURM comment, which the plugin sets to rule_<rule>[_wildcards_<values>]."""
    calls = {}
    for line in re.findall(r"sbatch call: (.*)", log):
        options = line.split(" --wrap=")[0]
        comment = re.search(r"--comment (\S+)", options)
        assert comment, f"no --comment in sbatch call: {options}"
        calls[comment.group(1)] = options
    return calls


def rule_of(comment: str) -> str:
    return comment.removeprefix("rule_").split("_wildcards_")[0]


def slurm_job(job_id: str) -> dict[str, str]:
    shown = subprocess.run(
        ["scontrol", "show", "job", "--oneliner", job_id],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0, f"SLURM does not know job {job_id}: {shown.stderr}"
    return dict(re.findall(r"(\S+?)=(\S*)", shown.stdout))


def slurm_jobs(log: str) -> dict[str, dict[str, str]]:
    """SLURM's record of every job this Snakemake run submitted, by comment."""
    jobs = {}
    for job_id in submitted_job_ids(log):
        job = slurm_job(job_id)
        jobs[job["Comment"]] = job
    return jobs


def summary_without_wall_clock(root: Path) -> list[dict]:
    frame = pl.read_parquet(root / "results" / NAME / "summary.parquet")
    frame = frame.drop([c for c in WALL_CLOCK_COLUMNS if c in frame.columns])
    # float.hex: equal means bit for bit equal.
    return [
        {key: value.hex() if isinstance(value, float) else value for key, value in row.items()}
        for row in frame.to_dicts()
    ]


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workflow, Run]:
    require_slurm()
    workflow = Workflow(tmp_path_factory.mktemp("slurm"))
    workflow.write_config(CONFIG)
    started = time.monotonic()
    run = check_ok(snakemake(workflow.root, PROFILE, SLURM_TIMEOUT, "first"))
    print(f"SLURM run: {time.monotonic() - started:.0f} s")
    return workflow, run


def test_workflow_completes_through_slurm(slurm_run: tuple[Workflow, Run]) -> None:
    workflow, run = slurm_run
    results = workflow.root / "results" / NAME
    assert (results / "summary.parquet").exists()
    for metric in (*FIGURES, "ddm_check"):
        assert (results / "figures" / f"{metric}.png").exists()

    job_ids = submitted_job_ids(run.log)
    assert job_ids, "no SLURM job ids in the log: the jobs did not go through SLURM"
    jobs = slurm_jobs(run.log)
    assert len(jobs) == len(job_ids)
    # Every rule but the local `all` ran as a SLURM job, in this working directory.
    assert {rule_of(comment) for comment in jobs} == GPU_RULES | CPU_RULES
    trains = [comment for comment in jobs if rule_of(comment) == "train"]
    assert len(trains) == len(CONFIG["sizes"]) * len(CONFIG["seeds"]) * len(CONFIG["algorithms"])
    for comment, job in jobs.items():
        assert job["JobState"] == "COMPLETED", f"{comment}: {job['JobState']}"
        assert Path(job["WorkDir"]).resolve() == workflow.root.resolve()
        assert job["Partition"] == "main"


def test_gpu_rules_request_a_gpu_and_others_do_not(slurm_run: tuple[Workflow, Run]) -> None:
    workflow, run = slurm_run
    calls = sbatch_calls(run.log)
    jobs = slurm_jobs(run.log)
    assert set(calls) == set(jobs)
    for comment, call in calls.items():
        job = jobs[comment]
        if rule_of(comment) in GPU_RULES:
            assert "--gpus=1" in call.split(), call
            assert "gpu" in job.get("TresPerJob", ""), f"{comment}: SLURM saw no GPU request"
            # The profile's set-resources: more memory and time than the defaults.
            assert " --mem 4004 " in call and " -t 240 " in call, call
        else:
            assert "--gpus" not in call and "--gres" not in call, call
            assert "gpu" not in job.get("TresPerJob", "(null)"), f"{comment}: {job}"
            assert " --mem 2000 " in call and " -t 30 " in call, call

    # SLURM gave each training job a GPU through CUDA_VISIBLE_DEVICES, and the lease kept it
    # (the fake GPUs are no CUDA devices, so the run itself falls back to the CPU).
    train_logs = sorted((workflow.root / "logs" / NAME / "train").glob("*/*/*.log"))
    assert len(train_logs) == 4
    for log in train_logs:
        text = log.read_text()
        assert re.search(r"CUDA_VISIBLE_DEVICES='[01]' already set", text), f"{log}:\n{text}"


def test_results_equal_a_local_run(
    slurm_run: tuple[Workflow, Run], tmp_path_factory: pytest.TempPathFactory
) -> None:
    workflow, _ = slurm_run
    local = Workflow(tmp_path_factory.mktemp("local"))
    local.write_config(CONFIG)
    summary = f"results/{NAME}/summary.parquet"
    args = [summary, "--cores", "2", "--resources", "gpu=2", "--configfile", "test.yaml"]
    check_ok(snakemake(local.root, args, LOCAL_TIMEOUT, "local"))
    assert summary_without_wall_clock(local.root) == summary_without_wall_clock(workflow.root)


def test_rerun_resubmits_only_the_deleted_run_and_its_dependents(
    slurm_run: tuple[Workflow, Run],
) -> None:
    workflow, first = slurm_run
    before = summary_without_wall_clock(workflow.root)
    results = workflow.root / "results" / NAME
    # Snakemake 9 reruns nothing for a deleted intermediate while the final outputs exist,
    # so delete the run and the summary built from it.
    (results / "runs" / "orthogonal" / "n200" / "seed1" / "metrics.json").unlink()
    (results / "summary.parquet").unlink()

    rerun = check_ok(snakemake(workflow.root, PROFILE, SLURM_TIMEOUT, "rerun"))
    jobs = slurm_jobs(rerun.log)
    assert set(jobs) == {
        "rule_train_wildcards_orthogonal_200_1",
        "rule_summary",
        *(f"rule_plot_metric_wildcards_{metric}" for metric in FIGURES),
        "rule_nuisance_error",
        "rule_plot_regret_at_k",
    }
    assert all(job["JobState"] == "COMPLETED" for job in jobs.values())
    assert not set(submitted_job_ids(rerun.log)) & set(submitted_job_ids(first.log))
    assert summary_without_wall_clock(workflow.root) == before
