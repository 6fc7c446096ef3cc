"""Bad data and science guards at the workflow level: the rule fails with the file (and row)
named on the terminal, and leaves no output behind.

A tiny synthetic run is finished once (the session's `tiny_run`); each case works on a copy of
it, damages one input, deletes the output of the rule under test and runs that rule again.
Unit-level cases of the same faults are in test_chunks.py (missing column, NaN features,
duplicate ids, corrupt and wrong-width chunks) and test_images.py (corrupt image bytes, NaN from
the model); they are listed with these in the README's failure table.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import Workflow, load_test_config
from image_helpers import tiny_demo_config

from rtpref.chunks import features_to_arrow, features_to_numpy
from rtpref.data import DataError
from rtpref.learners import TrainingDiverged
from rtpref.manifest import chunk_files, write_manifest
from rtpref.run import run_training

pytestmark = pytest.mark.workflow

TIMEOUT = 300  # seconds per Snakemake command: a guard against hangs, not a threshold
TINY_SYNTHETIC = load_test_config("tiny_synthetic")
NAME = TINY_SYNTHETIC["name"]
RESULTS = f"results/{NAME}"
RUN = "log_loss/n200/seed0"
METRICS = f"{RESULTS}/runs/{RUN}/metrics.json"
ENHANCED = f"{RESULTS}/enhanced/train.parquet"
REWARDS = f"{RESULTS}/synthetic/train/rewards.parquet"
FEATURES = f"{RESULTS}/synthetic/train/features.parquet"
CHUNKS = (f"{RESULTS}/chunks/train", f"{RESULTS}/chunks/test")


@pytest.fixture(scope="module")
def finished(tiny_run: Workflow) -> Workflow:
    """The tiny synthetic run, finished (shared with test_workflow.py; only copies change)."""
    return tiny_run


def clone(source: Workflow, root: Path) -> Workflow:
    """A fresh scratch directory with copies of ``source``'s results and Snakemake records."""
    root.mkdir()
    workflow = Workflow(root)
    for name in ("results", "logs", "test.yaml"):
        path = source.root / name
        if path.is_dir():
            shutil.copytree(path, root / name)
        else:
            shutil.copy2(path, root / name)
    shutil.copytree(
        source.root / ".snakemake",
        root / ".snakemake",
        ignore=shutil.ignore_patterns("locks", "incomplete"),
    )
    return workflow


def rerun_fails(
    workflow: Workflow,
    targets: list[str],
    rule: str,
    *needles: str,
    config: str = "test.yaml",
    env: dict[str, str] | None = None,
) -> str:
    """Delete ``targets``, run them again, check that ``rule`` failed with ``needles`` on the
    terminal and that neither a target nor a temporary file was left behind."""
    for target in targets:
        path = workflow.root / target
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    result = workflow.run(
        *targets,
        "--cores",
        "2",
        "--keep-going",
        "--configfile",
        config,
        check=False,
        timeout=TIMEOUT,
        env=env,
    )
    stderr = result.stderr
    assert result.returncode != 0, stderr[-4000:]
    line = next(
        (line for line in stderr.splitlines() if line.startswith(f"rtpref: rule {rule} failed: ")),
        None,
    )
    assert line is not None, f"no error line for rule {rule}:\n{stderr[-4000:]}"
    for needle in needles:
        assert needle in stderr, f"{needle!r} not on the terminal:\n{stderr[-4000:]}"
    for target in targets:
        assert not (workflow.root / target).exists(), f"{target} left behind"
    leftovers = list((workflow.root / "results").rglob(".*.tmp-*"))
    assert not leftovers, f"temporary files left behind: {leftovers}"
    return stderr


def rewrite(path: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    pq.write_table(change(pq.read_table(path)), path)


def set_value(table: pa.Table, column: str, row: int, value: float) -> pa.Table:
    """``table`` with ``column[row]`` (a scalar column, or every entry of a feature row) set."""
    index = table.column_names.index(column)
    if pa.types.is_fixed_size_list(table.schema.field(column).type):
        values = features_to_numpy(table.column(column)).copy()
        values[row] = value
        return table.set_column(index, column, features_to_arrow(values))
    values = table.column(column).to_numpy().copy()
    values[row] = value
    return table.set_column(index, column, pa.array(values, table.schema.field(column).type))


def widen(table: pa.Table) -> pa.Table:
    """``table`` with one more feature column in x1 and x2."""
    for name in ("x1", "x2"):
        values = features_to_numpy(table.column(name))
        wider = np.concatenate([values, np.zeros((len(values), 1), np.float32)], axis=1)
        table = table.set_column(table.column_names.index(name), name, features_to_arrow(wider))
    return table


def pair_index_at(path: Path, row: int) -> int:
    return int(pq.read_table(path, columns=["pair_index"]).column(0)[row].as_py())


# --- chunks read by the train rule -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "says"), [("truncated", "(truncated or replaced)"), ("deleted", "missing (listed in")]
)
def test_truncated_or_deleted_chunk(
    finished: Workflow, tmp_path: Path, fault: str, says: str
) -> None:
    workflow = clone(finished, tmp_path / "case")
    victim = chunk_files(workflow.root / CHUNKS[0])[1]
    if fault == "truncated":
        data = victim.read_bytes()
        victim.write_bytes(data[: len(data) // 2])
    else:
        victim.unlink()
    rerun_fails(
        workflow,
        [METRICS],
        "train",
        f"DataError: {victim.relative_to(workflow.root)}: ",
        says,
        "rerun the chunks rule (`snakemake --forcerun chunks`",
    )


def rewrite_chunk(path: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    """Rewrite a chunk file and its directory's manifest: a bad file that the manifest vouches
    for (as a writer bug would leave it), to reach the checks behind the manifest."""
    rewrite(path, change)
    write_manifest(path.parent)


def test_chunk_with_a_missing_column(finished: Workflow, tmp_path: Path) -> None:
    workflow = clone(finished, tmp_path / "case")
    victim = chunk_files(workflow.root / CHUNKS[0])[0]
    rewrite_chunk(victim, lambda table: table.drop_columns(["response_time"]))
    rerun_fails(workflow, [METRICS], "train", f"{victim.name}: missing column(s) ['response_time']")


def test_chunk_with_the_wrong_feature_width(finished: Workflow, tmp_path: Path) -> None:
    workflow = clone(finished, tmp_path / "case")
    victim = chunk_files(workflow.root / CHUNKS[0])[2]
    dim = pq.read_schema(victim).field("x1").type.list_size
    rewrite_chunk(victim, widen)
    rerun_fails(
        workflow,
        [METRICS],
        "train",
        f"{victim.name}: feature width(s) [{dim + 1}] (expected {dim})",
    )


@pytest.mark.parametrize(
    ("column", "value"), [("x2", np.nan), ("reward_1", np.inf), ("response_time", np.nan)]
)
def test_non_finite_value_in_a_chunk_names_file_and_row(
    finished: Workflow, tmp_path: Path, column: str, value: float
) -> None:
    workflow = clone(finished, tmp_path / "case")
    # The test chunks are read whole by every run, so any row of them is read.
    victim = chunk_files(workflow.root / CHUNKS[1])[1]
    row = 7
    rewrite_chunk(victim, lambda table: set_value(table, column, row, value))
    rerun_fails(
        workflow,
        [METRICS],
        "train",
        f"{victim.relative_to(workflow.root)}: column {column!r}",
        f"first at row {row} (pair_index {pair_index_at(victim, row)})",
    )


# --- rewards read by the enhance rule, features read by the chunks rule ---------------------


@pytest.mark.parametrize("fault", ["inf_reward", "duplicate_pair_id", "zero_rows", "truncated"])
def test_bad_rewards_fail_enhance(finished: Workflow, tmp_path: Path, fault: str) -> None:
    workflow = clone(finished, tmp_path / "case")
    rewards = workflow.root / REWARDS
    table = pq.read_table(rewards)
    row = 11
    if fault == "inf_reward":
        rewrite(rewards, lambda table: set_value(table, "reward_2", row, -np.inf))
        needles = [f"{REWARDS}: column 'reward_2'", f"pair_index {pair_index_at(rewards, row)}"]
    elif fault == "duplicate_pair_id":
        duplicate = pair_index_at(rewards, row)
        rewrite(rewards, lambda table: set_value(table, "pair_index", row + 1, duplicate))
        needles = [f"{REWARDS}: duplicate pair_index {duplicate}"]
    elif fault == "zero_rows":
        pq.write_table(table.slice(0, 0), rewards)
        needles = [f"{REWARDS}: zero rows"]
    else:
        data = rewards.read_bytes()
        rewards.write_bytes(data[: len(data) // 3])
        needles = [f"{REWARDS}: not a readable Parquet file"]
    rerun_fails(workflow, [ENHANCED], "enhance", "DataError", *needles)


@pytest.mark.parametrize("fault", ["nan_feature", "duplicate_pair_id"])
def test_bad_features_fail_chunks(finished: Workflow, tmp_path: Path, fault: str) -> None:
    workflow = clone(finished, tmp_path / "case")
    features = workflow.root / FEATURES
    row = 42
    if fault == "nan_feature":
        rewrite(features, lambda table: set_value(table, "x1", row, np.nan))
        needles = [f"{FEATURES}: column 'x1'", f"pair_index {pair_index_at(features, row)}"]
    else:
        duplicate = pair_index_at(features, row)
        rewrite(features, lambda table: set_value(table, "pair_index", row + 1, duplicate))
        needles = [f"{FEATURES}: pair_index not strictly ascending", "duplicate pair"]
    rerun_fails(workflow, list(CHUNKS), "chunks", "DataError", *needles)
    chunks = workflow.root / RESULTS / "chunks"
    assert not chunks.exists() or not any(chunks.iterdir())


# --- image bytes read by the score and embed rules -------------------------------------------


def test_corrupt_image_bytes_fail_score_and_embed(tmp_path: Path) -> None:
    workflow = Workflow(tmp_path)
    config = tiny_demo_config(shards=2)
    path = workflow.write_config(config)
    root = f"results/{config['name']}"
    shard = f"{root}/raw/train/shard-1.parquet"
    model = f"{root}/models/demo_clip/open_clip_model.safetensors"
    workflow.run(shard, model, "--cores", "2", "--configfile", str(path), timeout=TIMEOUT)
    row = 7
    rewrite(
        workflow.root / shard,
        lambda table: table.set_column(
            table.column_names.index("jpg_0"),
            "jpg_0",
            pa.array(
                [
                    b"\xff\xd8\xff\xe0 not a jpeg" if i == row else data
                    for i, data in enumerate(table.column("jpg_0").to_pylist())
                ],
                pa.binary(),
            ),
        ),
    )
    pair_index = pair_index_at(workflow.root / shard, row)
    needle = f"{shard}: row {row} (pair_index {pair_index}) column 'jpg_0': undecodable image"
    stderr = rerun_fails(
        workflow,
        [f"{root}/scores/train/shard-1.parquet", f"{root}/embeddings/train/shard-1.parquet"],
        "score",
        needle,
    )
    assert "rtpref: rule embed failed: DataError: " + needle in stderr


# --- science guards --------------------------------------------------------------------------

# Installed with PYTHONPATH into every Python process of the run, it gives the DDM sampler the
# reference code's sign error (choices flipped relative to the drift).
FLIPPED_SAMPLER = """
import rtpref.ddm

_simulate = rtpref.ddm.simulate


def simulate(*args, **kwargs):
    choice, response_time = _simulate(*args, **kwargs)
    return -choice, response_time


rtpref.ddm.simulate = simulate
"""


def test_sign_check_fails_enhance_on_flipped_choices(finished: Workflow, tmp_path: Path) -> None:
    workflow = clone(finished, tmp_path / "case")
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FLIPPED_SAMPLER)
    rerun_fails(
        workflow,
        [ENHANCED],
        "enhance",
        "SignCheckError",
        f"{REWARDS}: corr(choice",
        "<= 0; choices are flipped relative to rewards",
        env={"PYTHONPATH": str(hook)},
    )


def test_diverging_learners_stop_naming_the_run(finished: Workflow, tmp_path: Path) -> None:
    workflow = clone(finished, tmp_path / "case")
    config = copy.deepcopy(TINY_SYNTHETIC)
    config["training"]["learning_rate"] = 1e30
    workflow.write_config(config, "diverging.yaml")
    runs = ["log_loss/n200/seed0", "orthogonal/n400/seed1"]
    stderr = rerun_fails(
        workflow,
        [f"{RESULTS}/runs/{run}/metrics.json" for run in runs],
        "train",
        config="diverging.yaml",
    )
    for run in runs:
        assert f"rtpref: rule train failed: TrainingDiverged: {run}" in stderr, stderr[-4000:]


def test_non_finite_predictions_stop_the_run(finished: Workflow) -> None:
    """One Adam step with a huge learning rate: the loss before it was finite, the weights
    after it are not. The run must fail by name rather than score NaN predictions."""
    training = {
        **TINY_SYNTHETIC["training"],
        "learning_rate": 1e30,
        "batch_size": 1024,
        "log_loss_epochs": 1,
        # No validation rows: the weights after the one step are what the run is scored with.
        "validation_fraction": 0.0,
    }
    train, test = (finished.root / chunks for chunks in CHUNKS)
    with pytest.raises(TrainingDiverged, match=r"log_loss/n200/seed3: \d+ of 300 predicted"):
        run_training(
            train, test, "log_loss", 200, 3, training, barrier=1.0, label="log_loss/n200/seed3"
        )


def test_train_and_test_feature_widths_must_agree(finished: Workflow, tmp_path: Path) -> None:
    train, test = (tmp_path / "train", tmp_path / "test")
    shutil.copytree(finished.root / CHUNKS[0], train)
    shutil.copytree(finished.root / CHUNKS[1], test)
    for path in chunk_files(test):
        rewrite_chunk(path, widen)
    with pytest.raises(DataError, match=rf"{train} has features of width \d+ but {test}"):
        run_training(train, test, "log_loss", 200, 0, TINY_SYNTHETIC["training"], barrier=1.0)
