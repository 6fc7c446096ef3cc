"""Stage "dag": Snakemake's own overhead on the real workflow — the dry run of the full
reference sweep (config/pickapic.yaml), the demo end to end, and a no-op rerun of it — in a
scratch directory that links the workflow files."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perf.common import REPO, SCRATCH_PARENT, row


def _scratch_workflow(root: Path) -> Path:
    for name in ("Snakefile", "workflow", "config", "profiles"):
        (root / name).symlink_to(REPO / name)
    return root


def _timed_snakemake(root: Path, *args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return seconds


def bench_dag() -> list[dict]:
    """DAG overhead: the full reference sweep's dry run, the demo end to end, a no-op rerun."""
    with tempfile.TemporaryDirectory(dir=SCRATCH_PARENT) as scratch:
        root = _scratch_workflow(Path(scratch))
        dry = _timed_snakemake(root, "-n", "--quiet", "--configfile", "config/pickapic.yaml")
        demo = _timed_snakemake(root, "--cores", "2", "--resources", "gpu=2", "--quiet")
        noop = _timed_snakemake(root, "--cores", "2", "--resources", "gpu=2", "--quiet")
    return [
        row("dag: dry run of config/pickapic.yaml", dry, "s", dry / 10, "<= 10 s", dry <= 10),
        row("dag: demo end to end (2 cores)", demo, "s", demo / 300, "<= 300 s", demo <= 300),
        row("dag: no-op rerun of the finished demo", noop, "s", noop / 10, "<= 10 s", noop <= 10),
    ]


def _env() -> dict[str, str]:
    # The reference sweep's dry run must not touch the network.
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
