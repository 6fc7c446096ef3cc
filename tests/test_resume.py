"""Resume: a local run killed during training is finished by running the same command again.

A killed run must be resumable by running the same command (`--rerun-incomplete` where
Snakemake asks). Each test kills the whole Snakemake process group (Snakemake and its jobs)
while a training job is inside its epoch loop, reruns the command, and compares the final
summary with that of an uninterrupted run of the same config, exactly (bit for bit), except
for the wall-clock columns.

After SIGKILL Snakemake cannot remove its lock (.snakemake/locks), and Snakemake 9 does not
detect stale locks: the rerun says "Directory cannot be locked" and `--unlock` must run first.
The test does what the README tells a user to do in that case.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
from helpers import SNAKEMAKE, Workflow, load_test_config, planned_jobs

pytestmark = pytest.mark.workflow

TIMEOUT = 300  # seconds for any one Snakemake command; a bound, not a pass/fail threshold
CONFIG = load_test_config("resume")
NAME = CONFIG["name"]
RUNS = len(CONFIG["sizes"]) * len(CONFIG["seeds"]) * len(CONFIG["algorithms"])
# The summary is the target: figures add minutes on 2 cores and nothing to what is tested.
SUMMARY = f"results/{NAME}/summary.parquet"
# (The target goes first: --configfile and --resources take several values.)
COMMAND = [SUMMARY, "--cores", "2", "--resources", "gpu=2", "--configfile", "test.yaml"]
WALL_CLOCK_COLUMNS = ("train_seconds", "peak_memory_mb")


def start(root: Path, *args: str) -> subprocess.Popen[str]:
    """Snakemake in its own session, so that it and all its jobs form one process group."""
    log = open(root / "snakemake.out", "a")  # noqa: SIM115 (closed by the child's exit)
    return subprocess.Popen(
        [*SNAKEMAKE, *args],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen[str], sig: int) -> None:
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        raise AssertionError(f"snakemake did not exit within {TIMEOUT} s of signal {sig}") from None
    # Jobs may outlive Snakemake for a moment; the rerun must not race with them.
    deadline = time.monotonic() + 60
    while True:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError("jobs of the killed snakemake were still running after 60 s")
        time.sleep(0.1)


def metrics_files(root: Path) -> list[Path]:
    return sorted((root / "results" / NAME / "runs").glob("*/*/*/metrics.json"))


# A job's block in Snakemake's output: "rule train:", then indented "key: value" lines.
TRAIN_JOB = re.compile(
    r"rule train:\n(?:    .*\n)*?    output: ([^\s,]+).*\n(?:    .*\n)*?    jobid: (\d+)\n"
)


def finished_runs(log_text: str) -> set[str]:
    """Outputs of the train jobs that Snakemake reported finished (its own record of done).

    A metrics.json can exist before that: the job wrote it, then was killed before Snakemake
    registered the job as complete; --rerun-incomplete rightly recomputes such a file.
    """
    outputs = {jobid: output for output, jobid in TRAIN_JOB.findall(log_text)}
    done = re.findall(r"Finished jobid: (\d+) \(Rule: train\)", log_text)
    return {outputs[jobid] for jobid in done if jobid in outputs}


def training_in_progress(root: Path) -> Path | None:
    """The log of a training job that is inside its epoch loop and has not written metrics."""
    for log in (root / "logs" / NAME / "train").glob("*/*/*.log"):
        algorithm, size, seed = log.parent.parent.name, log.parent.name, log.stem
        done = root / "results" / NAME / "runs" / algorithm / size / seed / "metrics.json"
        if " epoch 1/" in log.read_text() and not done.exists():
            return log
    return None


def summary_without_wall_clock(root: Path) -> list[dict]:
    frame = pl.read_parquet(root / SUMMARY)
    frame = frame.drop([c for c in WALL_CLOCK_COLUMNS if c in frame.columns])
    # float.hex makes the comparison bit for bit (and NaN equal to NaN).
    return [
        {key: value.hex() if isinstance(value, float) else value for key, value in row.items()}
        for row in frame.to_dicts()
    ]


def output(root: Path) -> str:
    return (root / "snakemake.out").read_text()


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    process = start(root, *args)
    try:
        process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_group(process, signal.SIGINT)
        raise AssertionError(f"snakemake {' '.join(args)} took over {TIMEOUT} s") from None
    return subprocess.CompletedProcess(args, process.returncode)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    workflow = Workflow(tmp_path_factory.mktemp("uninterrupted"))
    workflow.write_config(CONFIG)
    result = run(workflow.root, *COMMAND)
    assert result.returncode == 0, output(workflow.root)[-6000:]
    assert len(metrics_files(workflow.root)) == RUNS
    return summary_without_wall_clock(workflow.root)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_run_resumes_to_the_same_summary(
    workflow: Workflow, uninterrupted: list[dict], sig: int
) -> None:
    workflow.write_config(CONFIG)
    root = workflow.root
    process = start(root, *COMMAND)
    try:
        deadline = time.monotonic() + TIMEOUT
        # Kill once one run has finished and another is inside its epoch loop, so that the
        # rerun has both kept work and interrupted work to deal with.
        while not finished_runs(output(root)) or (log := training_in_progress(root)) is None:
            if process.poll() is not None:
                raise AssertionError(
                    "snakemake ended before a run finished while another was training; "
                    f"make the config bigger\n{output(root)[-4000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no run finished within {TIMEOUT} s")
            time.sleep(0.05)
    except BaseException:
        kill_group(process, signal.SIGKILL)
        raise
    kill_group(process, sig)
    assert process.returncode != 0
    finished = finished_runs(output(root))
    assert 0 < len(finished) < RUNS, "the kill came after training; nothing to resume"
    finished_before = {root / path: (root / path).stat().st_mtime_ns for path in finished}
    assert not (root / SUMMARY).exists()
    chunks = root / "results" / NAME / "chunks" / "train"
    chunks_mtime = chunks.stat().st_mtime_ns
    # Atomic writes: the killed job left no metrics file, not even a partial one.
    algorithm, size, seed = log.parent.parent.name, log.parent.name, log.stem
    killed_run = root / "results" / NAME / "runs" / algorithm / size / seed
    assert not killed_run.exists() or not any(killed_run.iterdir())

    again = [*COMMAND, "--rerun-incomplete"]
    result = run(root, *again)
    if result.returncode != 0 and "cannot be locked" in output(root):
        assert sig == signal.SIGKILL, "only a hard kill may leave a stale lock behind"
        assert run(root, *again, "--unlock").returncode == 0, output(root)[-4000:]
        result = run(root, *again)
    assert result.returncode == 0, output(root)[-6000:]

    assert len(metrics_files(root)) == RUNS
    assert summary_without_wall_clock(root) == uninterrupted
    # Resumed, not restarted: finished work was kept.
    assert chunks.stat().st_mtime_ns == chunks_mtime
    for path, mtime in finished_before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was recomputed"


def test_sigterm_lets_running_jobs_finish_and_says_so(workflow: Workflow) -> None:
    """SIGTERM to Snakemake alone: the running job finishes, no new one starts, and the last
    word says that (not Snakemake's "At least one job did not complete successfully")."""
    config = CONFIG | {"algorithms": ["log_loss"]}
    workflow.write_config(config)
    root = workflow.root
    command = [SUMMARY, "--cores", "1", "--resources", "gpu=1", "--configfile", "test.yaml"]
    process = start(root, *command)
    try:
        deadline = time.monotonic() + TIMEOUT
        while (log := training_in_progress(root)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no training run started\n{output(root)[-4000:]}")
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            kill_group(process, signal.SIGKILL)
    text = output(root)
    assert process.returncode == 128 + signal.SIGTERM, text[-4000:]
    assert "rtpref: stopped by SIGTERM: every job that was running finished and was kept" in text
    assert "job(s) were not started. Run the same command again" in text
    assert "did not complete successfully" not in text, text[-4000:]
    algorithm, size, seed = log.parent.parent.name, log.parent.name, log.stem
    assert (root / "results" / NAME / "runs" / algorithm / size / seed / "metrics.json").exists()
    # The lock is gone and the rest is still to do.
    plan = subprocess.run(
        [*SNAKEMAKE, *command, "-n"], cwd=root, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr[-2000:]
    assert planned_jobs(plan.stdout)["train"] == len(config["seeds"]) - 1
