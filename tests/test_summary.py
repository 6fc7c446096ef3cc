"""The summary takes each run's record only if it belongs where it lies, once, with finite
metrics; otherwise it names the file and says what to do."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rtpref.data import DataError
from rtpref.names import METRICS
from rtpref.summary import collect


def write_run(root: Path, algorithm: str, n: int, seed: int, changes: dict | None = None) -> Path:
    path = root / "runs" / algorithm / f"n{n}" / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"algorithm": algorithm, "n": n, "seed": seed}
    record |= {name: 0.5 for name in METRICS} | (changes or {})
    # json writes float("nan") as NaN, as the run's own writer would.
    path.write_text(json.dumps(record))
    return path


def test_good_records_are_collected(tmp_path: Path) -> None:
    paths = [write_run(tmp_path, "log_loss", n, seed) for n in (200, 400) for seed in (0, 1)]
    summary = collect(paths)
    assert summary.height == 4
    assert summary.select("n", "seed").rows() == [(200, 0), (200, 1), (400, 0), (400, 1)]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"algorithm": "orthogonal"}, "record is for algorithm='orthogonal', n=200, seed=0"),
        ({"n": 400}, "record is for algorithm='log_loss', n=400, seed=0"),
        (
            {"seed": 3},
            "record is for algorithm='log_loss', n=200, seed=3 but its path is that of "
            "algorithm='log_loss', n=200, seed=0",
        ),
    ],
    ids=["algorithm", "n", "seed"],
)
def test_a_record_that_does_not_match_its_path_is_refused(
    tmp_path: Path, changes: dict, words: str
) -> None:
    path = write_run(tmp_path, "log_loss", 200, 0, changes)
    with pytest.raises(DataError, match=re.escape(f"{path}: {words}")) as error:
        collect([write_run(tmp_path, "log_loss", 400, 1), path])
    assert "delete the file and run snakemake again" in str(error.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, "0.5"])
def test_a_non_finite_or_missing_metric_is_refused(tmp_path: Path, value) -> None:
    path = write_run(tmp_path, "log_loss", 200, 0, {"mse": value})
    with pytest.raises(DataError, match=re.escape(f"{path}: metric 'mse' is ")):
        collect([path])


def test_a_run_given_twice_is_refused(tmp_path: Path) -> None:
    path = write_run(tmp_path, "log_loss", 200, 0)
    copy = tmp_path / "elsewhere.json"
    copy.write_text(path.read_text())
    with pytest.raises(DataError, match=re.escape(f"{copy}: run algorithm='log_loss', n=200")):
        collect([path, copy])
