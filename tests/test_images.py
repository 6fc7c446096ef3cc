"""The image path on the demo source: drawing, the tiny CLIP, scoring, embedding, and the DAG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import Workflow, planned_jobs, without_slurm_probe
from image_helpers import tiny_demo_config, tiny_demo_model

from rtpref.chunks import features_to_numpy
from rtpref.data import DataError
from rtpref.embedding import BatchSettings, encode_shard, features_table
from rtpref.models import (
    DEMO_CONFIG_NAME,
    DEMO_WEIGHTS_NAME,
    DemoModelConfig,
    load_model,
    save_demo_clip,
)
from rtpref.scoring import rewards_table
from rtpref.sources.demo import DemoConfig, make_pair, write_demo_shards
from rtpref.sources.raw import RAW_SCHEMA, shard_bounds
from rtpref.split import write_split_chunks

DEMO = DemoConfig(n_pairs=50, seed=1, image_size=32)
TINY_DEMO_MODEL = tiny_demo_model()


@pytest.fixture(scope="module")
def demo_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo_clip")
    save_demo_clip(
        DemoModelConfig(**TINY_DEMO_MODEL),
        directory / DEMO_CONFIG_NAME,
        directory / DEMO_WEIGHTS_NAME,
    )
    return directory


@pytest.fixture(scope="module")
def demo_model(demo_model_dir: Path):
    return load_model(
        {"kind": "demo"}, demo_model_dir / DEMO_CONFIG_NAME, demo_model_dir / DEMO_WEIGHTS_NAME
    )


@pytest.fixture(scope="module")
def raw_one_shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("raw") / "shard-0.parquet"
    write_demo_shards(DEMO, [path])
    return path


# --- the demo source ------------------------------------------------------------------------


def test_pairs_depend_only_on_seed_and_pair_index() -> None:
    assert make_pair(17, DEMO) == make_pair(17, DEMO)
    other_seed = DemoConfig(n_pairs=50, seed=2, image_size=32)
    assert make_pair(17, DEMO)["jpg_0"] != make_pair(17, other_seed)["jpg_0"]
    assert make_pair(17, DEMO)["jpg_0"] != make_pair(18, DEMO)["jpg_0"]


def test_shards_are_contiguous_and_independent_of_shard_count(tmp_path: Path) -> None:
    assert shard_bounds(10, 3) == [(0, 3), (3, 6), (6, 10)]
    paths = [tmp_path / f"shard-{i}.parquet" for i in range(3)]
    write_demo_shards(DEMO, paths)
    tables = [pq.read_table(path) for path in paths]
    for table in tables:
        assert table.schema.equals(RAW_SCHEMA)
    combined = pa.concat_tables(tables)
    assert combined.column("pair_index").to_pylist() == list(range(DEMO.n_pairs))
    single = tmp_path / "single.parquet"
    write_demo_shards(DEMO, [single])
    assert pq.read_table(single).equals(combined)


def test_demo_images_decode_and_vary(raw_one_shard: Path) -> None:
    import io

    from PIL import Image

    table = pq.read_table(raw_one_shard)
    means = []
    for data in table.column("jpg_0").to_pylist()[:20]:
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and image.size == (DEMO.image_size, DEMO.image_size)
        means.append(np.asarray(image.convert("RGB"), dtype=float).mean(axis=(0, 1)))
    assert np.std(means, axis=0).min() > 5, "images should differ in colour"
    assert len(set(table.column("caption").to_pylist())) > 10


# --- the tiny CLIP --------------------------------------------------------------------------


def test_demo_model_is_safetensors_and_json_and_reproducible(
    demo_model_dir: Path, tmp_path: Path
) -> None:
    from safetensors import safe_open

    config = json.loads((demo_model_dir / DEMO_CONFIG_NAME).read_text())
    assert config["model_cfg"]["embed_dim"] == TINY_DEMO_MODEL["embed_dim"]
    with safe_open(str(demo_model_dir / DEMO_WEIGHTS_NAME), framework="pt") as weights:
        assert "logit_scale" in weights.keys()
    # Same seed, same bytes; another seed, other weights.
    again = tmp_path / "again"
    save_demo_clip(
        DemoModelConfig(**TINY_DEMO_MODEL), again / DEMO_CONFIG_NAME, again / DEMO_WEIGHTS_NAME
    )
    assert (again / DEMO_WEIGHTS_NAME).read_bytes() == (
        demo_model_dir / DEMO_WEIGHTS_NAME
    ).read_bytes()
    other = tmp_path / "other"
    save_demo_clip(
        DemoModelConfig(**{**TINY_DEMO_MODEL, "seed": 1}),
        other / DEMO_CONFIG_NAME,
        other / DEMO_WEIGHTS_NAME,
    )
    assert (other / DEMO_WEIGHTS_NAME).read_bytes() != (
        demo_model_dir / DEMO_WEIGHTS_NAME
    ).read_bytes()


def test_features_are_unit_vectors_and_rewards_follow_the_pickscore_formula(
    demo_model, raw_one_shard: Path
) -> None:
    encoded = encode_shard(raw_one_shard, demo_model, BatchSettings(batch_pairs=16))
    assert encoded.pair_index.tolist() == list(range(DEMO.n_pairs))
    dim = TINY_DEMO_MODEL["embed_dim"]
    for name in ("image_0", "image_1", "text"):
        values = getattr(encoded, name)
        assert values.shape == (DEMO.n_pairs, dim)
        np.testing.assert_allclose(np.linalg.norm(values, axis=1), 1.0, rtol=1e-5)
    table = features_table(encoded)
    x1 = features_to_numpy(table.column("x1"))
    np.testing.assert_array_equal(x1[:, :dim], encoded.image_0)
    np.testing.assert_array_equal(x1[:, dim:], encoded.text)
    rewards = rewards_table(encoded, demo_model.logit_scale)
    # reward_1 belongs to jpg_0: recompute one pair's cosine from a separate forward pass.
    row = 5
    raw = pq.read_table(raw_one_shard).slice(row, 1)
    from rtpref.embedding import decode_image

    image = decode_image(raw.column("jpg_0")[0].as_py(), raw_one_shard, row, row, "jpg_0")
    image_feature, text_feature = demo_model.encode(
        demo_model.preprocess([image]), demo_model.tokenize([raw.column("caption")[0].as_py()])
    )
    expected = demo_model.logit_scale * float((image_feature[0] * text_feature[0]).sum())
    assert rewards.column("reward_1")[row].as_py() == pytest.approx(expected, rel=1e-4)
    assert np.std(rewards.column("reward_1").to_numpy()) > 0


def test_encoding_is_bitwise_independent_of_sharding(demo_model, tmp_path: Path) -> None:
    settings = BatchSettings(batch_pairs=16, decode_workers=2)
    single = tmp_path / "single.parquet"
    write_demo_shards(DEMO, [single])
    parts = [tmp_path / f"part-{i}.parquet" for i in range(3)]
    write_demo_shards(DEMO, parts)  # edges 16, 33 fall inside batches of 16
    whole = features_table(encode_shard(single, demo_model, settings))
    pieces = pa.concat_tables(
        [features_table(encode_shard(part, demo_model, settings)) for part in parts]
    )
    assert whole.equals(pieces)


# --- errors that name the file and the row --------------------------------------------------


def _rewrite(source: Path, target: Path, column: str, row: int, value) -> None:
    table = pq.read_table(source)
    values = table.column(column).to_pylist()
    values[row] = value
    index = table.column_names.index(column)
    pq.write_table(
        table.set_column(index, column, pa.array(values, table.schema.field(column).type)), target
    )


def test_corrupt_image_bytes_name_file_and_row(
    demo_model, raw_one_shard: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.parquet"
    _rewrite(raw_one_shard, broken, "jpg_1", 23, b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError) as error:
        encode_shard(broken, demo_model, BatchSettings(batch_pairs=16))
    message = str(error.value)
    assert str(broken) in message and "row 23" in message and "pair_index 23" in message
    assert "jpg_1" in message


def test_missing_column_names_file_and_column(
    demo_model, raw_one_shard: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.parquet"
    pq.write_table(pq.read_table(raw_one_shard).drop_columns(["caption"]), missing)
    with pytest.raises(DataError) as error:
        encode_shard(missing, demo_model)
    assert str(missing) in str(error.value) and "caption" in str(error.value)


def test_nan_features_name_file_and_row(demo_model, raw_one_shard: Path, tmp_path: Path) -> None:
    encoded = encode_shard(raw_one_shard, demo_model, BatchSettings(batch_pairs=16))
    encoded.image_1[31, 2] = np.nan
    features = tmp_path / "embeddings" / "shard-0.parquet"
    features.parent.mkdir()
    pq.write_table(features_table(encoded), features)
    labels = tmp_path / "labels.parquet"
    count = DEMO.n_pairs
    pq.write_table(
        pa.table(
            {
                "pair_index": np.arange(count),
                "reward_1": np.zeros(count),
                "reward_2": np.ones(count),
                "choice": np.ones(count, np.int8),
                "response_time": np.ones(count),
            }
        ),
        labels,
    )
    with pytest.raises(DataError) as error:
        write_split_chunks(labels, [features], tmp_path / "train", tmp_path / "test", 10, 0, 20)
    message = str(error.value)
    assert str(features) in message and "x2" in message and "pair_index 31" in message


def test_nan_from_the_model_names_file_and_row(
    demo_model, raw_one_shard: Path, monkeypatch
) -> None:
    original = demo_model.text_features

    def poisoned(tokens):
        features = original(tokens).clone()
        features[3] = float("nan")  # slot 3 of every batch: pair_index 3, 19, 35
        return features

    monkeypatch.setattr(demo_model, "text_features", poisoned)
    with pytest.raises(DataError) as error:
        encode_shard(raw_one_shard, demo_model, BatchSettings(batch_pairs=16))
    assert str(raw_one_shard) in str(error.value) and "pair_index 3)" in str(error.value)


# --- the DAG --------------------------------------------------------------------------------


def _chunk_tables(root: Path) -> dict[str, pa.Table]:
    return {
        part: pa.concat_tables(
            [pq.read_table(path) for path in sorted((root / "chunks" / part).glob("*.parquet"))]
        )
        for part in ("train", "test")
    }


@pytest.mark.workflow
def test_chunks_identical_for_one_and_three_shards_and_ddm_changes_skip_models(
    tmp_path: Path,
) -> None:
    environment = without_slurm_probe(tmp_path)
    chunks = {}
    workspaces = {}
    for shards in (1, 3):
        root = tmp_path / f"shards{shards}"
        root.mkdir()
        workflow = Workflow(root)
        config = workflow.write_config(tiny_demo_config(shards))
        targets = ["results/tinydemo/chunks/train", "results/tinydemo/chunks/test"]
        workflow.run(
            *targets,
            "--cores",
            "2",
            "--resources",
            "gpu=2",
            "--configfile",
            str(config),
            env=environment,
        )
        chunks[shards] = _chunk_tables(root / "results" / "tinydemo")
        workspaces[shards] = (workflow, targets)
    for part in ("train", "test"):
        assert chunks[1][part].equals(chunks[3][part]), f"{part} chunks differ with the shard count"
    assert chunks[1]["test"].num_rows == tiny_demo_config(1)["test_size"]
    assert chunks[1]["train"].schema.field("x1").type.list_size == 2 * TINY_DEMO_MODEL["embed_dim"]

    # Changing only the DDM barrier or seed re-simulates labels but reuses scores and embeddings.
    workflow, targets = workspaces[3]
    for change in ({"barrier": 1.5}, {"seed": 11}):
        config = tiny_demo_config(3)
        config["ddm"].update(change)
        changed = workflow.write_config(config, name="changed.yaml")
        dry = workflow.run(*targets, "-n", "--configfile", str(changed), env=environment)
        jobs = planned_jobs(dry.stdout)
        assert jobs == {"enhance": 1, "chunks": 1}, (change, jobs)


def test_batched_preprocessing_is_bitwise_the_per_image_transform(demo_model_dir: Path) -> None:
    import open_clip
    import torch
    from PIL import Image

    from rtpref.models import batched_preprocess

    _, _, transform = open_clip.create_model_and_transforms(f"local-dir:{demo_model_dir}")
    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 256, (height, width, 3), np.uint8))
        for height, width in [(64, 64), (40, 90), (120, 33)]
    ] + [Image.fromarray(rng.integers(0, 256, (50, 50), np.uint8))]  # greyscale
    expected = torch.stack([transform(image) for image in images])
    assert torch.equal(batched_preprocess(transform)(images), expected)
