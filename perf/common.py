"""What every stage shares: the row format, best-of timing, the repository's paths, scratch
directories and the fresh-interpreter probes (`python -m perf.<probe> ...`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRATCH_PARENT = REPO / "results"


def row(
    name: str,
    value: float | str,
    unit: str,
    ratio: float | None = None,
    target: str | None = None,
    passed: bool | None = None,
) -> dict:
    """One result row; ``value`` is a string only for a row that could not be measured
    (e.g. "unavailable: <reason>")."""
    return {
        "name": name,
        "value": value if isinstance(value, str) else float(value),
        "unit": unit,
        "ratio": None if ratio is None else float(ratio),
        "target": target,
        "pass": None if passed is None else bool(passed),
    }


def best_of(function: Callable[[], object], repeats: int = 3) -> float:
    """Fastest wall time of ``repeats`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def run_probe(module: str, *args: str) -> dict:
    """Run ``python -m perf.<module> args...`` in a fresh interpreter from the repository root;
    the probe prints one JSON object as its last line of output."""
    result = subprocess.run(
        [sys.executable, "-m", f"perf.{module}", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark probe perf.{module} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
