"""Shared test code: the tiny configs under .test/config, a scratch directory to run Snakemake
in, and reading Snakemake's dry-run plan. Fixtures built on these are in conftest.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
TEST_CONFIGS = REPO / ".test" / "config"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def load_test_config(name: str) -> dict[str, Any]:
    """A fresh copy of ``.test/config/<name>.yaml`` (a test may change it freely)."""
    return yaml.safe_load((TEST_CONFIGS / f"{name}.yaml").read_text())


class Workflow:
    """A scratch working directory holding links to the repository's workflow files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in ("Snakefile", "workflow", "config", "profiles"):
            (root / name).symlink_to(REPO / name)

    def write_config(self, config: dict, name: str = "test.yaml") -> Path:
        path = self.root / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 900,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        command = [*SNAKEMAKE, *args]
        result = subprocess.run(
            command,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {result.returncode}\n--- stdout\n"
                f"{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-6000:]}"
            )
        return result


def without_slurm_probe(directory: Path) -> dict[str, str]:
    """Environment in which Snakemake's start-up SLURM probe fails at once.

    The SLURM executor plugin runs `scontrol show config` whenever Snakemake starts; with SLURM
    client tools installed but no controller answering, that waits ~9 s per invocation. A
    failing stand-in on PATH keeps these tests about the workflow.
    """
    shim = directory / "no-slurm-bin"
    shim.mkdir(exist_ok=True)
    (shim / "scontrol").write_text("#!/bin/sh\nexit 1\n")
    (shim / "scontrol").chmod(0o755)
    return {"PATH": f"{shim}:{os.environ['PATH']}"}


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts per rule from the table Snakemake prints for a dry run."""
    counts: dict[str, int] = {}
    in_table = False
    for line in dry_run_output.splitlines():
        if line.startswith("job") and "count" in line:
            in_table = True
            continue
        if in_table:
            match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if match and match.group(1) != "total":
                counts[match.group(1)] = int(match.group(2))
            elif line.strip().startswith("total"):
                break
    return counts
