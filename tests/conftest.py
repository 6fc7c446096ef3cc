"""Shared fixtures: a scratch copy of the workflow to run Snakemake in, and tiny configs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

# A synthetic experiment small enough to run end to end in well under a minute on 2 cores.
TINY_SYNTHETIC = {
    "name": "tiny",
    "source": "synthetic",
    "sizes": [200, 400],
    "seeds": [0, 1],
    "algorithms": ["log_loss", "orthogonal"],
    "test_size": 300,
    # One shared data set (reward_seed fixed): tests address results/tiny/chunks directly.
    "synthetic": {
        "n_pairs": 900, "dim": 4, "hidden": [8], "weight_scale": 2.0, "seed": 0, "reward_seed": 0,
    },
    "chunks": {"rows_per_chunk": 128},
    "training": {
        "hidden": [16],
        "log_loss_hidden": [16],
        "dropout": 0.0,
        "batch_norm": False,
        "batch_size": 64,
        "log_loss_epochs": 2,
        "stage1_epochs": 2,
        "stage2_epochs": 2,
    },
    "figures": {"ddm_check_rows": 500},
}


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

    def run(self, *args: str, check: bool = True, timeout: float = 900,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = [*SNAKEMAKE, *args]
        result = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {result.returncode}\n--- stdout\n"
                f"{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-6000:]}"
            )
        return result


@pytest.fixture
def workflow(tmp_path: Path) -> Workflow:
    return Workflow(tmp_path)


@pytest.fixture
def tiny_config() -> dict:
    import copy

    return copy.deepcopy(TINY_SYNTHETIC)
