"""The text source without network: TRL-format pairs (explicit and HH-RLHF implicit prompts) from
local Parquet/JSONL, a tiny transformers reward model saved locally, the real all-MiniLM-L6-v2
bundled by a package, the offline demo's stand-in reward, and fast failures naming what to
download when the hub is needed."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from helpers import planned_jobs, without_slurm_probe

from rtpref.chunks import features_to_numpy
from rtpref.cli import main as cli_main
from rtpref.data import DataError
from rtpref.hub import HubResourceUnavailable
from rtpref.reward_model import RewardModel as SavedRewardModel
from rtpref.sources.text import TextConfig, collect_pairs, group_table, write_raw
from rtpref.sources.text_demo import TextDemoConfig, make_pairs, make_prompt
from rtpref.text_models import (
    RewardModel,
    SentenceEncoder,
    StandInReward,
    embed_text_shard,
    score_text_shard,
)

REPO = Path(__file__).resolve().parents[1]
NO_HUB = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"}
QUESTIONS = [f"how do i bake bread number {i}?" for i in range(12)]


def conversation(question: str, answer: str) -> str:
    return f"\n\nHuman: {question}\n\nAssistant: {answer}"


def hh_rows() -> list[dict]:
    """HH-RLHF layout: 12 good rows, then one row of each defect."""
    rows = [
        {
            "chosen": conversation(q, f"knead it well and bake it hot, step {i}."),
            "rejected": conversation(q, "no idea."),
        }
        for i, q in enumerate(QUESTIONS)
    ]
    rows.append(  # 12: the prompts differ between chosen and rejected
        {"chosen": conversation("a?", "yes."), "rejected": conversation("b?", "no.")}
    )
    rows.append({"chosen": conversation("c?", "  "), "rejected": conversation("c?", "no.")})  # 13
    rows.append(dict(rows[0]))  # 14: a repeat of row 0
    rows.append({"chosen": "no turns at all", "rejected": "none here"})  # 15
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("text_assets")
    write_jsonl(root / "hh.jsonl", hh_rows())
    explicit = {
        "question": QUESTIONS,
        "good": [f"knead it well and bake it hot, step {i}." for i in range(len(QUESTIONS))],
        "bad": ["no idea."] * len(QUESTIONS),
    }
    pq.write_table(pa.table(explicit), root / "explicit.parquet")
    save_tiny_reward_model(root / "reward")
    return {
        "root": root,
        "hh": root / "hh.jsonl",
        "explicit": root / "explicit.parquet",
        "reward": root / "reward",
    }


def save_tiny_reward_model(directory: Path) -> None:
    """A one-layer BERT sequence classifier (random weights) and a character WordPiece vocab."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    characters = string.ascii_lowercase + string.digits
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters]
    words += [f"##{c}" for c in characters] + list(":?.,!")
    tokenizer = BertTokenizer(vocab={word: index for index, word in enumerate(words)})
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        num_labels=1,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.load("bundled:all-MiniLM-L6-v2", max_tokens=64)


def test_implicit_layout_splits_prompt_and_drops_bad_rows_naming_file_and_row(assets) -> None:
    table, drops = collect_pairs(TextConfig(local_path=str(assets["hh"]), max_dropped_fraction=0.5))
    rows = table.to_pylist()
    assert len(rows) == len(QUESTIONS)
    for row, question in zip(rows, QUESTIONS, strict=True):
        assert row["prompt"] == f"\n\nHuman: {question}\n\nAssistant:"
        chosen = row["response_1"] if row["human_choice"] == 1 else row["response_2"]
        assert chosen.startswith("knead it well")
    assert {row["human_choice"] for row in rows} == {0, 1}, "chosen must not always come first"
    assert (drops.prompt_mismatch, drops.empty, drops.duplicates, drops.no_assistant_turn) == (
        1,
        1,
        1,
        1,
    )
    for row in (12, 13, 14, 15):
        assert any(example.startswith(f"{assets['hh']}:{row}: ") for example in drops.examples)
    again, _ = collect_pairs(TextConfig(local_path=str(assets["hh"]), max_dropped_fraction=0.5))
    assert again.equals(table)
    flipped, _ = collect_pairs(
        TextConfig(local_path=str(assets["hh"]), max_dropped_fraction=0.5, order_seed=1)
    )
    assert not flipped.column("human_choice").equals(table.column("human_choice"))


def test_explicit_layout_with_configured_columns_matches_the_implicit_pairs(assets) -> None:
    config = TextConfig(
        local_path=str(assets["explicit"]),
        prompt_column="question",
        chosen_column="good",
        rejected_column="bad",
    )
    explicit, drops = collect_pairs(config)
    implicit, _ = collect_pairs(TextConfig(local_path=str(assets["hh"]), max_dropped_fraction=0.5))
    assert drops.dropped == 0
    assert explicit.column("prompt").to_pylist() == QUESTIONS
    for name in ("response_1", "response_2", "human_choice", "prompt_id"):
        assert explicit.column(name).equals(implicit.column(name))


def test_a_hub_layout_directory_reads_only_the_split(tmp_path: Path) -> None:
    import gzip

    def gzip_jsonl(path: Path, rows: list[dict]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode()))

    train = hh_rows()[:12]
    gzip_jsonl(tmp_path / "helpful-base" / "train.jsonl.gz", train[:5])
    gzip_jsonl(tmp_path / "harmless-base" / "train.jsonl.gz", train[5:])
    gzip_jsonl(tmp_path / "helpful-base" / "test.jsonl.gz", hh_rows()[:2])
    gzip_jsonl(tmp_path / "red-team-attempts" / "red_team_attempts.jsonl.gz", [{"other": 1}])
    table, drops = collect_pairs(TextConfig(local_path=str(tmp_path)))
    assert (table.num_rows, drops.seen) == (12, 12)
    table, _ = collect_pairs(TextConfig(local_path=str(tmp_path), data_dir="helpful-base"))
    assert table.num_rows == 5


def test_message_lists_are_read_as_conversations(tmp_path: Path) -> None:
    rows = [
        {
            "prompt": q,
            "chosen": [{"role": "user", "content": q}, {"role": "assistant", "content": "bake."}],
            "rejected": [{"role": "user", "content": q}, {"role": "assistant", "content": "no."}],
        }
        for q in QUESTIONS[:4]
    ]
    table, _ = collect_pairs(TextConfig(local_path=str(write_jsonl(tmp_path / "m.jsonl", rows))))
    assert table.column("prompt").to_pylist() == QUESTIONS[:4]
    assert set(table.column("response_1").to_pylist()) <= {"bake.", "no."}


def test_missing_column_and_too_many_drops_are_refused(assets, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"explicit.parquet.*'answer' \(text.columns.chosen\)"):
        collect_pairs(
            TextConfig(
                local_path=str(assets["explicit"]), chosen_column="answer", format="implicit"
            )
        )
    with pytest.raises(DataError, match="text.max_dropped_fraction"):
        collect_pairs(TextConfig(local_path=str(assets["hh"]), max_dropped_fraction=0.1))
    empty = write_jsonl(tmp_path / "empty.jsonl", [{"prompt": "a", "chosen": "", "rejected": "b"}])
    with pytest.raises(DataError, match="no usable pairs"):
        collect_pairs(TextConfig(local_path=str(empty)))


def test_reward_model_scales_and_does_not_depend_on_batching(assets) -> None:
    model = RewardModel.load(str(assets["reward"]), scale=1.0)
    prompts = QUESTIONS[:5]
    responses = ["bake it.", "no.", "knead and bake for an hour.", "what?", "bake it."]
    rewards = model.score(prompts, responses, batch_pairs=5)
    assert np.allclose(rewards, model.score(prompts, responses, batch_pairs=2), atol=1e-5)
    assert np.unique(rewards).size > 1
    scaled = RewardModel.load(str(assets["reward"]), scale=3.0)
    assert np.allclose(scaled.score(prompts, responses), 3.0 * rewards)


def test_reward_model_with_several_outputs_is_refused(tmp_path: Path, assets) -> None:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        assets["reward"], num_labels=2, ignore_mismatched_sizes=True
    )
    model.save_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").write_bytes((assets["reward"] / "tokenizer.json").read_bytes())
    with pytest.raises(ValueError, match="text.reward.model.*2 outputs"):
        RewardModel.load(str(tmp_path))


def test_shards_scored_and_embedded_on_the_real_code_path(assets, encoder, tmp_path) -> None:
    paths = [tmp_path / "shard-0.parquet", tmp_path / "shard-1.parquet"]
    write_raw(TextConfig(local_path=str(assets["hh"]), max_dropped_fraction=0.5), paths)
    model = RewardModel.load(str(assets["reward"]))
    groups = group_table(paths)
    assert groups.column("pair_index").to_pylist() == list(range(len(QUESTIONS)))
    assert groups.column("prompt_id").to_pylist() == list(range(len(QUESTIONS)))
    for path in paths:
        raw = pq.read_table(path)
        features = embed_text_shard(path, encoder)
        rewards = score_text_shard(path, model)
        assert features.column("pair_index").equals(raw.column("pair_index"))
        assert rewards.column("pair_index").equals(raw.column("pair_index"))
        x1 = features_to_numpy(features.column("x1"))
        x2 = features_to_numpy(features.column("x2"))
        assert x1.shape == (raw.num_rows, 2 * encoder.dim)
        assert np.allclose(np.linalg.norm(x1[:, : encoder.dim], axis=1), 1, atol=1e-5)
        assert np.allclose(x1[:, : encoder.dim], x2[:, : encoder.dim])  # same prompt
        expected = model.score(raw.column("prompt").to_pylist(), raw["response_1"].to_pylist())
        assert np.allclose(rewards.column("reward_1").to_numpy(), expected, atol=1e-6)


def test_bundled_encoder_has_real_weights(encoder) -> None:
    query, related, unrelated = encoder.encode(
        ["How do I bake sourdough bread?", "Tips for baking a loaf at home", "Filing a tax return"]
    )
    assert float(query @ related) > float(query @ unrelated) + 0.2


def test_demo_prompts_are_distinct_candidates_and_standin_prefers_good_answers(
    encoder, tmp_path: Path
) -> None:
    config = TextDemoConfig(n_prompts=8, candidates=4, seed=3)
    table = make_pairs(config)
    assert table.num_rows == config.n_pairs
    assert table.equals(make_pairs(config))
    assert all(len(set(make_prompt(i, config)["responses"])) == 4 for i in range(8))
    groups = table.group_by("prompt_id").aggregate([("response_1_id", "count_distinct")])
    assert groups.num_rows > 1
    raw = tmp_path / "raw.parquet"
    pq.write_table(table, raw)
    features = tmp_path / "features.parquet"
    pq.write_table(embed_text_shard(raw, encoder), features)
    rewards = StandInReward(encoder, scale=10.0).score_shard(raw, features)
    reward_of = dict(
        zip(table["response_1"].to_pylist(), rewards["reward_1"].to_pylist(), strict=True)
    )
    reward_of.update(
        zip(table["response_2"].to_pylist(), rewards["reward_2"].to_pylist(), strict=True)
    )
    detailed = [value for text, value in reward_of.items() if "First," in text]
    off_topic = [value for text, value in reward_of.items() if "Speaking of" in text]
    assert detailed and off_topic and np.mean(detailed) > np.mean(off_topic)


@pytest.mark.parametrize("environment", [{"HF_HUB_OFFLINE": "1"}, NO_HUB])
def test_hub_dataset_and_models_fail_fast_naming_download_and_key(monkeypatch, environment) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(
        HubResourceUnavailable, match=r"hf download Anthropic/hh-rlhf --repo-type dataset"
    ):
        collect_pairs(TextConfig(dataset="Anthropic/hh-rlhf"))
    with pytest.raises(
        HubResourceUnavailable, match=r"hf download OpenAssistant/.*text.reward.model"
    ):
        RewardModel.load("OpenAssistant/reward-model-deberta-v3-large-v2")
    with pytest.raises(
        HubResourceUnavailable, match=r"sentence-transformers/all-mpnet.*text.encoder"
    ):
        SentenceEncoder.load("sentence-transformers/all-mpnet-base-v2")


@pytest.mark.workflow
def test_text_workflow_from_local_hh_rlhf_files(workflow, assets, tmp_path: Path) -> None:
    rows = [
        {
            "chosen": conversation(f"question {i}?", f"a careful answer {i}."),
            "rejected": conversation(f"question {i}?", f"nope {i}."),
        }
        for i in range(30)
    ]
    config = {
        "name": "tinytext",
        "source": "text",
        "sizes": [12],
        "seeds": [0],
        "algorithms": ["orthogonal"],
        "test_size": 10,
        "shards": 1,
        "text": {
            "dataset": "Anthropic/hh-rlhf",
            "local_path": str(write_jsonl(tmp_path / "hh.jsonl", rows)),
            "format": "implicit",
            "reward": {"kind": "model", "model": str(assets["reward"]), "batch_pairs": 8},
            "encoder": {"model": "bundled:all-MiniLM-L6-v2", "max_tokens": 32},
        },
        "ddm": {"reward_diff_std": 1.0},
        "chunks": {"rows_per_chunk": 16},
        "training": {
            "hidden": [8],
            "batch_norm": False,
            "dropout": 0.0,
            "batch_size": 8,
            "stage1_epochs": 1,
            "stage2_epochs": 1,
        },
    }
    environment = {**NO_HUB, **without_slurm_probe(tmp_path)}
    path = workflow.write_config(config)
    workflow.run(
        "results/tinytext/summary.parquet",
        "--cores",
        "2",
        "--configfile",
        str(path),
        env=environment,
    )
    root = workflow.root / "results" / "tinytext"
    enhanced = pq.read_table(root / "enhanced" / "train.parquet")
    assert enhanced.column("pair_index").to_pylist() == list(range(30))
    metrics = json.loads((root / "runs/orthogonal/n12/seed0/metrics.json").read_text())
    assert np.isfinite(metrics["mse"])

    # The saved text model scores new (prompt, response) pairs: `rtpref embed` uses the
    # sentence encoder recorded in the model, `rtpref score` the features it wrote.
    model = root / "runs/orthogonal/n12/seed0/model"
    items, pairs, features, scored = (
        tmp_path / name for name in ("items.parquet", "pairs.parquet", "f.parquet", "s.parquet")
    )
    pq.write_table(
        pa.table(
            {
                "item_id": ["good", "bad"],
                "prompt": ["question 99?", "question 99?"],
                "text": ["a careful answer 99.", "nope 99."],
            }
        ),
        items,
    )
    pq.write_table(pa.table({"item_1": ["good"], "item_2": ["bad"]}), pairs)
    runner = CliRunner()
    for command in (
        ["embed", "--model", str(model), "--items", str(items), "--out", str(features)],
        ["score", "--model", str(model), "--pairs", str(pairs), "--items", str(features),
         "--out", str(scored)],
    ):
        result = runner.invoke(cli_main, command)
        assert result.exit_code == 0, result.output
    widths = pq.read_table(features).schema.field("x").type.list_size
    assert widths == SavedRewardModel.from_pretrained(model).in_dim
    assert np.isfinite(pq.read_table(scored).column("predicted_diff").to_numpy()).all()


@pytest.mark.workflow
def test_hh_rlhf_config_plans_offline(workflow, tmp_path: Path) -> None:
    environment = {"HF_HUB_OFFLINE": "1", **without_slurm_probe(tmp_path)}
    result = workflow.run(
        "-n", "--configfile", str(REPO / "config" / "hh_rlhf.yaml"), env=environment
    )
    jobs = planned_jobs(result.stdout)
    assert jobs["text_raw"] == 1 and jobs["text_score"] == jobs["text_embed"] == 4
    assert jobs["train"] == 5 * 4 * 4 and "score" not in jobs and "embed" not in jobs
