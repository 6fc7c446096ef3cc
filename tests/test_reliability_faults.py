"""Faults around the data: kills at random points, a second Snakemake on the same directory,
untrusted checkpoints, pickle in the code, and the hub out of reach.

The kill loop follows the README's recipe for a hard kill (SIGKILL of Snakemake and its jobs,
then `--unlock`, then the same command with `--rerun-incomplete`) twenty times at seeded random
moments of a tiny synthetic run. test_resume.py kills once, at a chosen moment, with SIGINT and
with SIGKILL.
"""

from __future__ import annotations

import ast
import io
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
import tokenize
from pathlib import Path
from typing import Any

import polars as pl
import psutil
import pyarrow.parquet as pq
import pytest
import torch
from helpers import REPO, Workflow, load_test_config
from image_helpers import (
    pickapic_rows,
    save_pickapic_parquet,
    save_tiny_open_clip,
    save_tiny_transformers_clip,
)
from test_resume import kill_group, start

from rtpref.chunks import index_chunks
from rtpref.io import atomic_path, write_json
from rtpref.manifest import chunk_files
from rtpref.models import (
    DEMO_CONFIG_NAME,
    DEMO_WEIGHTS_NAME,
    load_model,
    load_open_clip,
    load_pickscore,
)
from rtpref.names import METRICS

TIMEOUT = 300  # seconds for any one Snakemake command: a guard against hangs, not a threshold
NAME = "kills"
CONFIG = load_test_config("tiny_synthetic") | {
    "name": NAME,
    "sizes": [200],
    "seeds": [0, 1],
    "algorithms": ["log_loss", "orthogonal"],
}
RUNS = len(CONFIG["sizes"]) * len(CONFIG["seeds"]) * len(CONFIG["algorithms"])
SUMMARY = f"results/{NAME}/summary.parquet"
COMMAND = [SUMMARY, "--cores", "2", "--configfile", "test.yaml", "--rerun-incomplete"]
WALL_CLOCK_COLUMNS = ("train_seconds", "peak_memory_mb")
KILLS = 20
KILL_SEED = 20251123


def run(root: Path, *args: str) -> int:
    process = start(root, *args)
    try:
        return process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_group(process, signal.SIGKILL)
        raise AssertionError(f"snakemake {' '.join(args)} took over {TIMEOUT} s") from None


def snakemake_output(root: Path) -> str:
    return (root / "snakemake.out").read_text()


def summary_without_wall_clock(root: Path) -> list[dict[str, Any]]:
    frame = pl.read_parquet(root / SUMMARY).drop(WALL_CLOCK_COLUMNS)
    # float.hex: bit for bit.
    return [
        {key: value.hex() if isinstance(value, float) else value for key, value in row.items()}
        for row in frame.to_dicts()
    ]


def check_outputs_complete(root: Path) -> int:
    """Every output that exists is whole: JSON parses, Parquet reads with all rows, chunk
    directories hold all their rows. Temporary siblings (".name.tmp-*") are not outputs.
    Returns the number of outputs checked."""
    results = root / "results" / NAME
    checked = 0
    for path in results.rglob("metrics.json"):
        metrics = json.loads(path.read_text())
        assert all(math.isfinite(metrics[name]) for name in METRICS), path
        checked += 1
    expected_rows = {
        "features.parquet": CONFIG["synthetic"]["n_pairs"],
        "rewards.parquet": CONFIG["synthetic"]["n_pairs"],
        "train.parquet": CONFIG["synthetic"]["n_pairs"],  # enhanced/
        "summary.parquet": RUNS,
    }
    for path in results.rglob("*.parquet"):
        if any(part.startswith(".") for part in path.relative_to(results).parts):
            continue
        if path.parent.parent.name == "chunks":
            continue
        assert pq.read_table(path).num_rows == expected_rows[path.name], path
        checked += 1
    test_rows = CONFIG["test_size"]
    for part, rows in (("train", CONFIG["synthetic"]["n_pairs"] - test_rows), ("test", test_rows)):
        directory = results / "chunks" / part
        if directory.exists():
            assert index_chunks(directory).num_rows == rows, directory
            for chunk in chunk_files(directory):
                pq.read_table(chunk)
            checked += 1
    return checked


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], float]:
    """The summary of an uninterrupted run, and how long that run took (to scale kill times)."""
    workflow = Workflow(tmp_path_factory.mktemp("uninterrupted"))
    workflow.write_config(CONFIG)
    started = time.monotonic()
    assert run(workflow.root, *COMMAND) == 0, snakemake_output(workflow.root)[-6000:]
    duration = time.monotonic() - started
    return summary_without_wall_clock(workflow.root), duration


# --- atomicity: SIGKILL at random points -----------------------------------------------------


@pytest.mark.workflow
def test_random_kills_leave_no_partial_output_and_resume_identically(
    workflow: Workflow, uninterrupted: tuple[list[dict], float]
) -> None:
    expected, duration = uninterrupted
    workflow.write_config(CONFIG)
    root = workflow.root
    rng = random.Random(KILL_SEED)
    kills = kills_during_jobs = completions = checked = 0
    while kills < KILLS:
        assert kills + completions < 3 * KILLS, "the loop makes no progress"
        process = start(root, *COMMAND)
        # Kill times spread over half an uninterrupted run; finished jobs accumulate across
        # iterations, so later kills land in later stages (training, summary).
        delay = rng.uniform(0.0, 0.5 * duration)
        try:
            returncode = process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            try:
                jobs = psutil.Process(process.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                jobs = []
            kill_group(process, signal.SIGKILL)
            kills += 1
            kills_during_jobs += bool(jobs)
            checked += check_outputs_complete(root)
            assert run(root, *COMMAND, "--unlock") == 0, snakemake_output(root)[-4000:]
            continue
        # The run finished before the kill: undo part of it so that the next kills have work.
        assert returncode == 0, snakemake_output(root)[-6000:]
        completions += 1
        checked += check_outputs_complete(root)
        (root / SUMMARY).unlink()
        runs = sorted((root / "results" / NAME / "runs").glob("*/*/*/metrics.json"))
        for path in rng.sample(runs, k=2):
            path.unlink()

    assert run(root, *COMMAND) == 0, snakemake_output(root)[-6000:]
    checked += check_outputs_complete(root)
    assert summary_without_wall_clock(root) == expected
    leftovers = list((root / "results").rglob(".*.tmp-*"))
    assert not leftovers, f"temporary files of killed jobs were never removed: {leftovers}"
    print(
        f"\n{kills} SIGKILLs survived ({kills_during_jobs} while jobs ran), {completions} "
        f"completed run(s) in between, {checked} outputs checked whole; summary identical"
    )


# Writes half a file through atomic_path, says so, and waits to be killed.
KILLED_WRITER = """
import sys, time
from rtpref.io import atomic_path
with atomic_path(sys.argv[1]) as temporary:
    temporary.write_text('{"accuracy": 0.')
    print("writing", flush=True)
    time.sleep(600)
"""


def test_a_killed_write_leaves_no_output_and_its_temporary_is_removed_later(
    tmp_path: Path,
) -> None:
    target = tmp_path / "runs" / "metrics.json"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    finally:
        writer.kill()
        writer.wait(timeout=TIMEOUT)
    assert not target.exists()
    stale = list(target.parent.glob(".metrics.json.tmp-*"))
    assert len(stale) == 1, "the killed writer should have left its temporary"
    write_json(target, {"accuracy": 0.5})
    assert json.loads(target.read_text()) == {"accuracy": 0.5}
    assert sorted(target.parent.iterdir()) == [target]


def test_a_failed_write_keeps_the_previous_output(tmp_path: Path) -> None:
    target = tmp_path / "summary.parquet"
    target.write_bytes(b"finished work")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("the job failed")
    assert target.read_bytes() == b"finished work"
    assert sorted(tmp_path.iterdir()) == [target]


# --- concurrency: a second Snakemake on the same directory -----------------------------------


@pytest.mark.workflow
def test_second_snakemake_is_refused_and_the_first_finishes_intact(
    workflow: Workflow, uninterrupted: tuple[list[dict], float]
) -> None:
    workflow.write_config(CONFIG)
    root = workflow.root
    first = start(root, *COMMAND)
    locks = root / ".snakemake" / "locks"
    deadline = time.monotonic() + TIMEOUT
    try:
        while not (locks.exists() and any(locks.iterdir())):
            assert first.poll() is None, "the first run ended before it locked the directory"
            assert time.monotonic() < deadline, f"no lock within {TIMEOUT} s"
            time.sleep(0.05)
        # Freeze the first run while it holds the lock, so that the second surely meets it.
        os.killpg(first.pid, signal.SIGSTOP)
        try:
            second = workflow.run(*COMMAND, check=False, timeout=TIMEOUT)
        finally:
            os.killpg(first.pid, signal.SIGCONT)
        assert first.wait(timeout=TIMEOUT) == 0, snakemake_output(root)[-6000:]
    except BaseException:
        if first.poll() is None:
            kill_group(first, signal.SIGKILL)
        raise
    assert second.returncode != 0
    assert "Directory cannot be locked" in second.stdout + second.stderr
    assert summary_without_wall_clock(root) == uninterrupted[0]
    check_outputs_complete(root)


# --- models: no pickle, and untrusted checkpoints cannot run code ----------------------------

BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve"}


def pickle_uses(source: str, name: str) -> list[str]:
    """Places where Python ``source`` can unpickle: banned modules or names, torch.load without
    weights_only=True, numpy loads with allow_pickle=True, torch.save of anything but a dict."""
    problems = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and (
            token.string in BANNED_MODULES or "pickle" in token.string.lower()
        ):
            if token.string != "allow_pickle":  # judged by its value below
                problems.append(f"{name}:{token.start[0]}: {token.string}")
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        call = ast.unparse(node.func)
        keywords = {keyword.arg: keyword.value for keyword in node.keywords}
        weights_only = keywords.get("weights_only")
        if call == "torch.load" and not (
            isinstance(weights_only, ast.Constant) and weights_only.value is True
        ):
            problems.append(f"{name}:{node.lineno}: torch.load without weights_only=True")
        allow = keywords.get("allow_pickle")
        if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
            problems.append(f"{name}:{node.lineno}: allow_pickle")
        if call == "torch.save" and node.args and "state_dict" not in ast.unparse(node.args[0]):
            problems.append(f"{name}:{node.lineno}: torch.save of {ast.unparse(node.args[0])}")
    return problems


def test_the_checker_finds_pickle_uses() -> None:
    bad = (
        "import pickle\nfrom joblib import dump\nimport cloudpickle as cp\n"
        "x = torch.load(path)\ny = torch.load(path, weights_only=False)\n"
        "z = np.load(path, allow_pickle=True)\ntorch.save(model, path)\nframe.to_pickle(p)\n"
    )
    flagged = {int(problem.split(":")[1]) for problem in pickle_uses(bad, "bad.py")}
    assert flagged == set(range(1, len(bad.splitlines()) + 1))
    good = (
        '"""Nothing is unpickled: torch.load(weights_only=True)."""\n'
        "# pickle is banned\nx = torch.load(path, weights_only=True)\n"
        "torch.save(model.state_dict(), path)\nnp.load(path, allow_pickle=False)\n"
    )
    assert pickle_uses(good, "good.py") == []


def test_no_pickle_in_the_package_or_the_workflow() -> None:
    files = [*(REPO / "src").rglob("*.py"), *(REPO / "workflow").rglob("*.py")]
    assert len(files) > 20
    problems = [problem for path in files for problem in pickle_uses(path.read_text(), str(path))]
    # Snakefile and rules are not plain Python; their code lines are checked as text.
    for path in [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if "pickle" in code or any(module in code for module in BANNED_MODULES):
                problems.append(f"{path}:{number}: {line.strip()}")
            if "torch.load(" in code and "weights_only=True" not in code:
                problems.append(f"{path}:{number}: {line.strip()}")
    assert problems == []


class CodeInCheckpoint:
    """Unpickling this creates ``marker``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def save_payload(path: Path, marker: Path) -> None:
    torch.save({"state_dict": {"weight": CodeInCheckpoint(marker)}}, path)


def test_payload_would_run_code_if_unpickled(tmp_path: Path) -> None:
    """The payload is live: loading it the unsafe way does create the marker."""
    marker = tmp_path / "code-ran"
    save_payload(tmp_path / "evil.pt", marker)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


@pytest.fixture
def demo_model_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "demo_clip"
    save_tiny_open_clip(directory)
    return directory


def test_demo_loader_refuses_a_pickled_weights_file(demo_model_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    weights = demo_model_dir / DEMO_WEIGHTS_NAME
    save_payload(weights, marker)
    with pytest.raises(ValueError, match=rf"{weights}: not a safetensors file"):
        load_model({"kind": "demo"}, demo_model_dir / DEMO_CONFIG_NAME, weights)
    assert not marker.exists()


def test_demo_loader_does_not_fall_back_to_another_checkpoint(
    demo_model_dir: Path, tmp_path: Path
) -> None:
    """open_clip's local-dir loader would take any *.bin in the directory."""
    marker = tmp_path / "code-ran"
    weights = demo_model_dir / DEMO_WEIGHTS_NAME
    weights.unlink()
    save_payload(demo_model_dir / "open_clip_pytorch_model.bin", marker)
    with pytest.raises(FileNotFoundError, match=rf"{weights}: model weights file does not exist"):
        load_model({"kind": "demo"}, demo_model_dir / DEMO_CONFIG_NAME, weights)
    assert not marker.exists()


def test_open_clip_checkpoint_is_loaded_weights_only(demo_model_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    (demo_model_dir / DEMO_WEIGHTS_NAME).unlink()
    save_payload(demo_model_dir / "open_clip_pytorch_model.bin", marker)
    with pytest.raises(Exception, match="Weights only load failed") as error:
        load_open_clip(f"local-dir:{demo_model_dir}", None)
    assert "UnpicklingError" in type(error.value).__name__
    assert not marker.exists()


def test_transformers_checkpoint_is_loaded_weights_only(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    model, processor = tmp_path / "model", tmp_path / "processor"
    save_tiny_transformers_clip(model, processor)
    for weights in model.glob("*.safetensors"):
        weights.unlink()
    save_payload(model / "pytorch_model.bin", marker)
    with pytest.raises(Exception, match="Weights only load failed"):
        load_pickscore(str(model), str(processor))
    assert not marker.exists()


# --- offline: the score and embed rules without the hub --------------------------------------

NO_HUB = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"}


@pytest.mark.workflow
@pytest.mark.parametrize(
    "environment", [{"HF_HUB_OFFLINE": "1"}, NO_HUB], ids=["HF_HUB_OFFLINE", "unreachable"]
)
def test_score_and_embed_without_hub_or_cache_say_what_to_provide(
    workflow: Workflow, tmp_path: Path, environment: dict[str, str]
) -> None:
    """The reference models, neither cached nor downloadable: each rule fails with one line
    naming the model and the config key to point at a local copy. (The dataset case is
    test_pickapic.py::test_offline_raw_fails_fast_with_one_clear_line.)"""
    save_pickapic_parquet(
        tmp_path / "dataset", pickapic_rows(40, set(), set(), seed=0), "train", files=1
    )
    config = load_test_config("tiny_pickapic") | {"name": "offline", "shards": 1}
    config["pickapic"]["local_path"] = str(tmp_path / "dataset")  # reference scorer, embedder
    path = workflow.write_config(config)
    empty_cache = tmp_path / "hf-home"
    environment = {
        **environment,
        "HF_HOME": str(empty_cache),
        "HF_HUB_CACHE": str(empty_cache / "hub"),
    }
    targets = [
        "results/offline/scores/train/shard-0.parquet",
        "results/offline/embeddings/train/shard-0.parquet",
    ]
    result = workflow.run(
        *targets,
        "--cores",
        "2",
        "--keep-going",
        "--configfile",
        str(path),
        check=False,
        timeout=TIMEOUT,
        env=environment,
    )
    assert result.returncode != 0
    lines = {
        rule: [
            line
            for line in result.stderr.splitlines()
            if line.startswith(f"rtpref: rule {rule} failed: HubResourceUnavailable: ")
        ]
        for rule in ("score", "embed")
    }
    assert len(lines["score"]) == 1 and len(lines["embed"]) == 1, result.stderr[-4000:]
    score, embed = lines["score"][0], lines["embed"][0]
    # Whichever of the processor and the model is loaded first is named, with its config key.
    assert "laion/CLIP-ViT-H-14-laion2B-s32B-b79K" in score or "PickScore_v1" in score
    assert "hf download" in score and "pickapic.scorer." in score
    assert "ViT-H-14/laion2b_s32b_b79k" in embed and "pickapic.embedder.pretrained" in embed
    assert "hf download" in embed and "local checkpoint file" in embed
    assert "Traceback" not in result.stderr
    for target in targets:
        assert not (workflow.root / target).exists()
