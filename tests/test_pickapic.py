"""The pickapic source without network: a local Pick-a-Pic-schema dataset, a tiny transformers
CLIP as PickScore and a tiny open_clip model, end to end through Snakemake; and fast, clear
failures when the hub is needed but unreachable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REPO, load_test_config, planned_jobs, without_slurm_probe
from image_helpers import (
    pickapic_rows,
    save_pickapic_parquet,
    save_tiny_open_clip,
    save_tiny_transformers_clip,
)

from rtpref.data import DataError
from rtpref.hub import HubResourceUnavailable
from rtpref.models import load_open_clip, load_pickscore
from rtpref.sources.pickapic import PickapicConfig, Stream, open_stream, write_raw_shards
from rtpref.sources.pickapic_inputs import check_inputs, local_parquet_files

ROWS = 40
TIES = {5}
CORRUPT = {12}
# A closed local port: any attempt to reach "the hub" fails at once instead of timing out.
NO_HUB = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"}


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pickapic_assets")
    save_tiny_transformers_clip(root / "pickscore", root / "processor")
    save_tiny_open_clip(root / "open_clip")
    rows = pickapic_rows(ROWS, TIES, CORRUPT, seed=0)
    save_pickapic_parquet(root / "dataset", rows, "train", files=3)
    # Another split in the same directory must be ignored when reading train.
    save_pickapic_parquet(root / "dataset", pickapic_rows(6, set(), set(), seed=1), "test", 1)
    return {"root": root, **{name: root / name for name in ("pickscore", "processor", "dataset")}}


def pickapic_config(assets: dict[str, Path], **pickapic: object) -> dict:
    """.test/config/tiny_pickapic.yaml reading the local stand-ins of ``assets``."""
    config = load_test_config("tiny_pickapic")
    config["pickapic"] |= {
        "local_path": str(assets["dataset"]),
        "scorer": {"model": str(assets["pickscore"]), "processor": str(assets["processor"])},
        "embedder": {"model": f"local-dir:{assets['root'] / 'open_clip'}", "pretrained": None},
        **pickapic,
    }
    return config


# --- raw shards from a local dataset --------------------------------------------------------


def test_local_files_of_the_split_only(assets: dict[str, Path]) -> None:
    files = local_parquet_files(assets["dataset"], "train")
    assert len(files) == 3 and all(file.name.startswith("train-") for file in files)


def test_a_split_without_files_is_refused_listing_the_files(assets: dict[str, Path]) -> None:
    # Reading every file instead would mix the train and test splits.
    with pytest.raises(DataError) as error:
        local_parquet_files(assets["dataset"], "validation")
    message = str(error.value)
    assert "split 'validation'" in message and "Set `split`" in message
    for file in (assets["dataset"] / "data").glob("*.parquet"):
        assert f"data/{file.name}" in message


def test_drop_notes_name_the_file_and_its_row(tmp_path: Path) -> None:
    # Two files of 10 rows; corrupt rows 3 (first file) and 14 (row 4 of the second).
    files = save_pickapic_parquet(tmp_path, pickapic_rows(20, set(), {3, 14}, seed=2), "train", 2)
    config = PickapicConfig(local_path=str(tmp_path), batch_rows=7)
    counts = write_raw_shards(open_stream(config, "train"), [tmp_path / "shard.parquet"], None)
    assert counts.undecodable == 2
    assert [note.split(": jpg_1 undecodable")[0] for note in counts.examples] == [
        f"{files[0]} row 3",
        f"{files[1]} row 4",
    ]


@pytest.mark.parametrize("sample_size", [None, 25])
def test_raw_drops_ties_and_undecodable_rows(
    assets: dict[str, Path], tmp_path: Path, sample_size: int | None
) -> None:
    config = PickapicConfig(
        local_path=str(assets["dataset"]), batch_rows=9, sample_size=sample_size
    )
    paths = [tmp_path / f"shard-{i}.parquet" for i in range(3)]
    counts = write_raw_shards(open_stream(config, "train"), paths, sample_size)
    usable = ROWS - len(TIES) - len(CORRUPT)
    expected = usable if sample_size is None else sample_size
    assert (counts.ties, counts.undecodable, counts.kept) == (1, 1, expected)
    tables = [pq.read_table(path) for path in paths]
    combined = pa.concat_tables(tables)
    assert combined.column("pair_index").to_pylist() == list(range(expected))
    assert all(table.num_rows > 0 for table in tables)
    # Kept rows keep their source order; the tie and the corrupt row are gone.
    source = pa.concat_tables(
        [pq.read_table(file) for file in local_parquet_files(assets["dataset"], "train")]
    )
    kept_ids = [i for i in range(ROWS) if i not in TIES | CORRUPT][:expected]
    assert combined.column("ranking_id").to_pylist() == [
        source.column("ranking_id")[i].as_py() for i in kept_ids
    ]
    assert combined.column("jpg_0").to_pylist() == [
        source.column("jpg_0")[i].as_py() for i in kept_ids
    ]


def test_raw_fails_when_the_sample_is_larger_than_the_data(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    config = PickapicConfig(local_path=str(assets["dataset"]), sample_size=ROWS)
    path = tmp_path / "shard-0.parquet"
    with pytest.raises(DataError, match="sample_size is 40"):
        write_raw_shards(open_stream(config, "train"), [path], config.sample_size)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_raw_checks_sizes_against_the_split_before_streaming(tmp_path: Path) -> None:
    def rows_never_read():
        raise AssertionError("streamed although the split is too small")
        yield

    # The hub's metadata gives the split's row count before the stream starts.
    stream = Stream(rows_never_read(), 583_747, "yuvalkirstain/pickapic_v1@main split train")
    path = tmp_path / "shard-0.parquet"
    with pytest.raises(DataError) as error:
        write_raw_shards(stream, [path], None, needed_rows=10_000 + 600_000)
    assert str(error.value).startswith(
        "yuvalkirstain/pickapic_v1@main split train: test_size + max(sizes) = 610000 but the "
        "split has 583747 rows"
    )
    assert not list(tmp_path.iterdir())


def test_raw_names_the_file_of_a_missing_column(assets: dict[str, Path], tmp_path: Path) -> None:
    source = local_parquet_files(assets["dataset"], "train")[0]
    broken = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(pq.read_table(source).drop_columns(["label_1"]), broken)
    with pytest.raises(DataError) as error:
        open_stream(PickapicConfig(local_path=str(tmp_path)), "train")
    assert str(broken) in str(error.value) and "label_1" in str(error.value)


def test_pickapic_raw_fails_when_filtering_leaves_nothing(tmp_path: Path) -> None:
    rows = 12
    save_pickapic_parquet(
        tmp_path / "dataset",
        pickapic_rows(rows, set(range(0, rows, 2)), set(range(1, rows, 2)), seed=0),
        "train",
        files=1,
    )
    config = PickapicConfig(local_path=str(tmp_path / "dataset"))
    paths = [tmp_path / "out" / f"shard-{i}.parquet" for i in range(2)]
    with pytest.raises(DataError) as error:
        write_raw_shards(open_stream(config, "train"), paths, sample_size=None)
    message = str(error.value)
    assert str(tmp_path / "dataset") in message and "no usable pairs in 12 rows" in message
    assert "6 ties, 6 undecodable" in message
    assert not list((tmp_path / "out").iterdir())


# --- loaders without network ----------------------------------------------------------------


def _fails_fast(call, *needles: str) -> None:
    # "Fast" is the hub probe's own timeout (rtpref.hub); timing it here would only test load.
    with pytest.raises(HubResourceUnavailable) as error:
        call()
    for needle in needles:
        assert needle in str(error.value)


@pytest.mark.parametrize("environment", [{"HF_HUB_OFFLINE": "1"}, NO_HUB])
def test_hub_models_fail_fast_with_what_to_do(monkeypatch, environment: dict[str, str]) -> None:
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    _fails_fast(
        lambda: load_pickscore("rtpref-test/not-cached-pickscore", "rtpref-test/not-cached-proc"),
        "rtpref-test/not-cached-proc",
        "hf download",
        "pickapic.scorer.processor",
    )
    _fails_fast(
        lambda: load_open_clip("ViT-H-14", "laion2b_s32b_b79k"),
        "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        "pickapic.embedder.pretrained",
    )
    _fails_fast(
        lambda: open_stream(PickapicConfig(repo="yuvalkirstain/pickapic_v1"), "train"),
        "pickapic.local_path",
        "yuvalkirstain/pickapic_v1",
    )


def test_a_missing_local_scorer_path_is_refused_naming_the_key(
    monkeypatch, assets: dict[str, Path], tmp_path: Path
) -> None:
    for key, value in NO_HUB.items():
        monkeypatch.setenv(key, value)
    missing = str(tmp_path / "models" / "PickScore_v1")
    # Taken for a hub id before: the job then failed about the hub, not about the path.
    with pytest.raises(FileNotFoundError) as error:
        load_pickscore(missing, str(assets["processor"]))
    assert str(error.value).startswith(f"pickapic.scorer.model: {missing} does not exist")
    with pytest.raises(FileNotFoundError, match=r"^pickapic\.scorer\.processor: \./proc/x "):
        load_pickscore(str(assets["pickscore"]), "./proc/x")


@pytest.mark.parametrize(
    ("pretrained", "error", "says"),
    [
        ("/models/CLIP-ViT-H-14/open_clip_pytorch_model.bin", FileNotFoundError, "does not exist"),
        ("open_clip_pytorch_model.bin", FileNotFoundError, "does not exist"),
        ("laion2b_s32b_b79", ValueError, "laion2b_s32b_b79k"),
    ],
)
def test_a_missing_or_mistyped_open_clip_pretrained_is_refused_naming_the_key(
    monkeypatch, pretrained: str, error: type[Exception], says: str
) -> None:
    for key, value in NO_HUB.items():
        monkeypatch.setenv(key, value)
    # open_clip answers {} for an unknown tag; that gave `hf download ViT-H-14/<pretrained>`.
    with pytest.raises(error) as raised:
        load_open_clip("ViT-H-14", pretrained)
    message = str(raised.value)
    assert "pickapic.embedder.pretrained" in message and says in message
    assert "hf download ViT-H-14/" not in message


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"scorer": {"model": "/nowhere/PickScore_v1"}}, "pickapic.scorer.model: /nowhere/"),
        ({"scorer": {"processor": "~/nowhere/proc"}}, "pickapic.scorer.processor: ~/nowhere"),
        ({"embedder": {"model": "ViT-H-14", "pretrained": "/nowhere/m.bin"}},
         "pickapic.embedder.pretrained: checkpoint file /nowhere/m.bin does not exist"),
        ({"embedder": {"model": "local-dir:/nowhere/clip"}}, "pickapic.embedder.model: /nowhere"),
        ({"local_path": "/nowhere/pickapic"}, "pickapic.local_path /nowhere/pickapic does not"),
        ({"sample_size": 50}, "sample_size = 50 but split 'train' has 40 rows in 3 file(s)"),
        ({"split": "validation"}, "no Parquet file of split 'validation'"),
        ({"sizes": [33]}, "test_size + max(sizes) = 41 but split 'train' has 40 rows"),
    ],
    ids=[
        "scorer_model",
        "scorer_processor",
        "pretrained_file",
        "local_dir",
        "local_path",
        "sample_size",
        "split",
        "sizes",
    ],
)
def test_inputs_are_checked_before_any_job(
    assets: dict[str, Path], change: dict, says: str
) -> None:
    config = pickapic_config(assets)
    settings = config["pickapic"]
    for key, value in change.items():
        if isinstance(value, dict):
            settings[key] = {**settings[key], **value}
        elif key in ("split", "sizes"):
            config[key] = value
        else:
            settings[key] = value
    check_inputs(pickapic_config(assets)["pickapic"], "train", [12, 24], 8)  # the good one
    with pytest.raises((DataError, FileNotFoundError)) as error:
        check_inputs(settings, config.get("split", "train"), config["sizes"], config["test_size"])
    assert says in str(error.value)


def test_local_pickscore_matches_the_pickscore_formula(assets: dict[str, Path]) -> None:
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    scorer = load_pickscore(str(assets["pickscore"]), str(assets["processor"]))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8))
    caption = "a red fox in the snow"
    image_feature, text_feature = scorer.encode(
        scorer.preprocess([image]), scorer.tokenize([caption])
    )
    reward = scorer.logit_scale * float((image_feature[0] * text_feature[0]).sum())
    # The PickScore reference recipe, straight from transformers.
    processor = CLIPProcessor.from_pretrained(assets["processor"])
    model = CLIPModel.from_pretrained(assets["pickscore"]).eval()
    with torch.no_grad():
        pixels = processor(images=[image], return_tensors="pt")["pixel_values"]
        text = processor(text=[caption], padding=True, return_tensors="pt")
        output = model(pixel_values=pixels, **text)
    assert reward == pytest.approx(float(output.logits_per_image[0, 0]), rel=1e-4)


# --- through Snakemake ----------------------------------------------------------------------


@pytest.mark.workflow
def test_pickapic_end_to_end_from_local_files(
    workflow, assets: dict[str, Path], tmp_path: Path
) -> None:
    config = workflow.write_config(pickapic_config(assets))
    workflow.run(
        "results/tinypick/summary.parquet",
        "--cores",
        "2",
        "--resources",
        "gpu=2",
        "--configfile",
        str(config),
        env={**NO_HUB, **without_slurm_probe(tmp_path)},
    )
    root = workflow.root / "results" / "tinypick"
    usable = ROWS - len(TIES) - len(CORRUPT)
    log = (workflow.root / "logs" / "tinypick" / "raw" / "train.log").read_text()
    assert "dropped 1 tie(s), 1 undecodable image row(s)" in log
    scores = pa.concat_tables(
        [pq.read_table(root / "scores" / "train" / f"shard-{i}.parquet") for i in range(2)]
    )
    assert scores.column("pair_index").to_pylist() == list(range(usable))
    assert np.isfinite(scores.column("reward_1").to_numpy()).all()
    embeddings = pq.read_table(root / "embeddings" / "train" / "shard-0.parquet")
    assert embeddings.schema.field("x1").type.list_size == 2 * 12  # [image; text] of open_clip
    enhanced = pq.read_table(root / "enhanced" / "train.parquet")
    assert enhanced.num_rows == usable
    summary = pl.read_parquet(root / "summary.parquet")
    assert summary.height == 2 and summary["mse"].is_finite().all()


@pytest.mark.workflow
def test_a_missing_model_path_stops_the_workflow_before_any_job(
    workflow, assets: dict[str, Path], tmp_path: Path
) -> None:
    config = pickapic_config(assets)
    config["pickapic"]["scorer"]["model"] = str(tmp_path / "no" / "PickScore_v1")
    path = workflow.write_config(config)
    result = workflow.run(
        "--cores", "1", "--configfile", str(path), check=False,
        env={**NO_HUB, **without_slurm_probe(tmp_path)},
    )
    assert result.returncode != 0
    assert f"pickapic.scorer.model: {tmp_path / 'no' / 'PickScore_v1'} does not exist" in (
        result.stderr
    )
    assert not (workflow.root / "results").exists() and not (workflow.root / "logs").exists()


@pytest.mark.workflow
def test_offline_raw_fails_fast_with_one_clear_line(
    workflow, assets: dict[str, Path], tmp_path: Path
) -> None:
    config = pickapic_config(assets, local_path=None)
    path = workflow.write_config(config)
    # A hang (instead of the quick failure) is caught by the run's timeout.
    result = workflow.run(
        "results/tinypick/raw/train/shard-0.parquet",
        "--cores",
        "1",
        "--configfile",
        str(path),
        check=False,
        env={"HF_HUB_OFFLINE": "1", **without_slurm_probe(tmp_path)},
        timeout=300,
    )
    assert result.returncode != 0
    assert "rtpref: rule raw failed: HubResourceUnavailable" in result.stderr
    assert "pickapic.local_path" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.workflow
def test_reference_config_dry_run_plans_offline(workflow, tmp_path: Path) -> None:
    # Its speed is measured by the benchmark (perf.dag), not asserted here.
    environment = {**NO_HUB, **without_slurm_probe(tmp_path)}
    result = workflow.run(
        "-n", "--configfile", str(REPO / "config" / "pickapic.yaml"), env=environment, timeout=300
    )
    jobs = planned_jobs(result.stdout)
    assert jobs["train"] == 5 * 4 * 4 and jobs["score"] == jobs["embed"] == 2
