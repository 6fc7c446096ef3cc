"""Saved reward models: save/load, refusal of pickles and mismatched shapes, and the `rtpref`
command reproducing a run's test metrics from its saved model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner

from rtpref.cli import main
from rtpref.enhance import simulate_labels
from rtpref.io import write_parquet
from rtpref.learners.networks import RewardNet
from rtpref.reward_model import ModelFileError, RewardModel
from rtpref.run import run_training
from rtpref.sources.synthetic import SyntheticConfig, make_pairs
from rtpref.split import write_split_chunks

TRAINING = {
    "hidden": [8],
    "log_loss_hidden": [8],
    "dropout": 0.0,
    "batch_norm": True,
    "batch_size": 64,
    "log_loss_epochs": 1,
    "stage1_epochs": 1,
    "stage2_epochs": 1,
}


def tiny_model(in_dim: int = 3, hidden: tuple[int, ...] = (5,)) -> RewardModel:
    torch.manual_seed(0)
    net = RewardNet(in_dim, hidden, 0.1, True)
    return RewardModel.from_net(net, "log_loss", barrier=1.5, training={"epochs": 1})


@pytest.fixture(scope="module")
def chunk_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("chunks")
    features, rewards = make_pairs(SyntheticConfig(n_pairs=500, dim=3, hidden=(4,), seed=1))
    write_parquet(root / "features.parquet", features)
    write_parquet(root / "labels.parquet", simulate_labels(rewards, barrier=1.0, seed=0))
    train, test = root / "train", root / "test"
    write_split_chunks(
        root / "labels.parquet", [root / "features.parquet"], train, test, 150, 0, 64
    )
    return train, test


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = tiny_model()
    model.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    loaded = RewardModel.from_pretrained(tmp_path / "model")
    x1, x2 = np.random.default_rng(0).standard_normal((2, 20, 3)).astype(np.float32)
    assert np.array_equal(loaded.predict_diff(x1, x2), model.predict_diff(x1, x2))
    assert np.array_equal(loaded.predict_reward(x1), model.predict_reward(x1))
    assert loaded.config == model.config and loaded.barrier == 1.5
    assert loaded.config["architecture"] == {
        "in_dim": 3,
        "hidden": [5],
        "dropout": pytest.approx(0.1, abs=1e-4),
        "batch_norm": True,
    }


def test_pickle_weights_are_refused_by_name(tmp_path: Path) -> None:
    directory = tmp_path / "model"
    tiny_model().save_pretrained(directory)
    (directory / "model.safetensors").unlink()
    torch.save({"weights": torch.zeros(2)}, directory / "model.bin")
    with pytest.raises(ModelFileError, match=r"\['model.bin'\] but no model.safetensors"):
        RewardModel.from_pretrained(directory)
    # A pickle under the safetensors name is refused too, not unpickled.
    (directory / "model.bin").rename(directory / "model.safetensors")
    with pytest.raises(ModelFileError, match="not a safetensors file"):
        RewardModel.from_pretrained(directory)


def test_config_that_does_not_match_the_weights_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "model"
    tiny_model().save_pretrained(directory)
    config = json.loads((directory / "config.json").read_text())
    config["architecture"]["in_dim"] = 7
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError) as error:
        RewardModel.from_pretrained(directory)
    message = str(error.value)
    assert "config.json" in message and "model.safetensors" in message
    assert "body.0.weight: config (5, 7) vs weights (5, 3)" in message


def test_offline_hub_id_fails_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelFileError, match="not in the Hugging Face cache"):
        RewardModel.from_pretrained("someone/some-reward-model")


def test_score_reproduces_the_runs_test_mse_exactly(
    chunk_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    train, test = chunk_dirs
    model_dir = tmp_path / "run" / "model"
    metrics = run_training(
        train, test, "orthogonal", 200, 0, TRAINING, barrier=1.0, model_dir=model_dir
    )
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["training"]["epochs"] == metrics["epochs"]
    assert len(saved["provenance"]["training_rows_sha256"]) == 64
    out = tmp_path / "scored.parquet"
    result = CliRunner().invoke(
        main, ["score", "--model", str(model_dir), "--pairs", str(test), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    scored = pq.read_table(out)
    diff = scored.column("predicted_diff").to_numpy()
    true_diff = scored.column("reward_1").to_numpy() - scored.column("reward_2").to_numpy()
    assert float(np.mean((diff - true_diff) ** 2)) == metrics["mse"]
    probability = scored.column("prob_first").to_numpy()
    assert np.all((probability > 0) & (probability < 1))
    assert np.array_equal(probability > 0.5, diff > 0)


def test_score_exit_codes(chunk_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = chunk_dirs
    model_dir = tmp_path / "model"
    tiny_model(in_dim=5).save_pretrained(model_dir)
    out = tmp_path / "scored.parquet"
    wrong_width = CliRunner().invoke(
        main, ["score", "--model", str(model_dir), "--pairs", str(test), "--out", str(out)]
    )
    assert wrong_width.exit_code == 2
    assert "width 3 but the model" in wrong_width.output and not out.exists()
    missing = CliRunner().invoke(main, ["score", "--model", str(model_dir), "--out", str(out)])
    assert missing.exit_code == 2 and "--pairs" in missing.output
    assert "Exit codes" in CliRunner().invoke(main, ["--help"]).output


def test_embed_uses_the_recorded_embedder_and_refuses_another(tmp_path: Path) -> None:
    import pyarrow as pa
    from image_helpers import _jpeg, save_tiny_open_clip

    from rtpref.models import DEMO_CONFIG_NAME, DEMO_WEIGHTS_NAME
    from rtpref.provenance import embedder_provenance

    clip = tmp_path / "clip"
    save_tiny_open_clip(clip)
    embedder = embedder_provenance(
        {"kind": "demo"}, clip / DEMO_CONFIG_NAME, clip / DEMO_WEIGHTS_NAME
    )
    rng = np.random.default_rng(0)
    items = tmp_path / "items.parquet"
    pq.write_table(
        pa.table(
            {
                "item_id": ["a", "b", "c"],
                "image": [_jpeg(rng) for _ in range(3)],
                "caption": ["a fox", "a car", "the moon"],
            }
        ),
        items,
    )
    for in_dim, name in ((24, "good"), (10, "narrow")):
        torch.manual_seed(0)
        net = RewardNet(in_dim, (4,), 0.0, False)
        RewardModel.from_net(
            net, "log_loss", 1.0, provenance={"embedder": embedder}
        ).save_pretrained(tmp_path / name)
    out = tmp_path / "features.parquet"

    def embed(model: str, *extra: str):
        arguments = ["embed", "--model", str(tmp_path / model), "--items", str(items)]
        return CliRunner().invoke(main, [*arguments, "--out", str(out), *extra])

    result = embed("good")
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).column("x").type.list_size == 24
    out.unlink()
    narrow = embed("narrow")
    assert narrow.exit_code == 2 and "width 24" in narrow.output and "width 10" in narrow.output
    # Same architecture, other weights: refused by identity, naming both files.
    other = tmp_path / "other_clip"
    save_tiny_open_clip(other)
    weights = other / DEMO_WEIGHTS_NAME
    from safetensors.torch import load_file, save_file

    state = {key: value + 1.0 for key, value in load_file(str(weights)).items()}
    save_file(state, str(weights))
    moved = embed("good", "--embedder", str(other))
    assert moved.exit_code == 2 and str(weights) in moved.output
    assert str(clip / DEMO_WEIGHTS_NAME) in moved.output and not out.exists()


def test_a_model_from_a_newer_format_is_refused_by_name(tmp_path):
    from rtpref.learners.networks import RewardNet
    from rtpref.reward_model import FORMAT_VERSION, ModelFileError, RewardModel

    net = RewardNet(3, (4,), 0.0, False)
    directory = RewardModel.from_net(net, "log_loss", 1.0).save_pretrained(tmp_path / "model")
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    config["format_version"] = FORMAT_VERSION + 1
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="format_version"):
        RewardModel.from_pretrained(directory)
