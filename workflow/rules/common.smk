from pathlib import Path

import yaml
from snakemake.utils import validate

from rtpref.configuration import coerce_to_schema
from rtpref.learners.config import options_for

SCHEMA_FILE = Path(workflow.current_basedir) / "../../config/schema.yaml"
# `--config` values arrive as strings; type them by the schema, then validate.
config.update(coerce_to_schema(config, yaml.safe_load(SCHEMA_FILE.read_text())))
validate(config, schema=str(SCHEMA_FILE))

NAME = config["name"]
SOURCE = config["source"]
SPLIT = config["split"]
SHARDS = list(range(config["shards"]))
IMAGE_SOURCES = ("demo", "pickapic")
# Recorded data has no true rewards: its figures show the held-out fit instead.
REWARDS_KNOWN = SOURCE != "recorded"
FIGURE_METRICS = (
    ["mse", "accuracy", "policy_value", "regret"]
    if REWARDS_KNOWN
    else ["accuracy", "choice_log_likelihood", "time_log_likelihood"]
)


def check_auto_ddm():
    """auto barrier / non-decision time are estimated from recorded data only."""
    auto = [
        key for key in ("barrier", "non_decision_time") if config["ddm"][key] == "auto"
    ]
    if auto and SOURCE != "recorded":
        raise ValueError(
            f"config: ddm.{auto[0]}: auto needs source recorded; source {SOURCE!r} "
            "simulates choices and times from the number you give"
        )


check_auto_ddm()
if SOURCE == "recorded" and not config["recorded"]["pairs"]:
    raise ValueError(
        "config: source recorded needs recorded.pairs, your Parquet files of pairs"
    )
CALIBRATE = "auto" in (config["ddm"]["barrier"], config["ddm"]["non_decision_time"])


def available_pairs():
    """Pairs the source will provide, where the config alone says (None when unknown)."""
    if SOURCE == "synthetic":
        return config["synthetic"]["n_pairs"]
    if SOURCE == "demo":
        return config["demo"]["n_pairs"]
    return config["pickapic"].get("sample_size")


def check_sizes():
    """Fail before any job runs if a run would ask for more training rows than exist."""
    pairs = available_pairs()
    if pairs is None:
        return
    if config["test_size"] >= pairs:
        raise ValueError(
            f"config: test_size={config['test_size']} leaves no training pairs "
            f"(source {SOURCE!r} provides {pairs})"
        )
    train_pairs = pairs - config["test_size"]
    too_big = [size for size in config["sizes"] if size > train_pairs]
    if too_big:
        raise ValueError(
            f"config: sizes {too_big} exceed the {train_pairs} training pairs available "
            f"({pairs} pairs from source {SOURCE!r} minus test_size={config['test_size']})"
        )


check_sizes()


wildcard_constraints:
    split=SPLIT,
    algorithm="|".join(config["algorithms"]),
    size=r"\d+",
    seed=r"\d+",
    shard=r"\d+",
    metric="|".join(FIGURE_METRICS),


def results(path):
    return f"results/{NAME}/{path}"


def logs(path):
    return f"logs/{NAME}/{path}"


def benchmarks(path):
    return f"benchmarks/{NAME}/{path}"


def reward_files(wildcards):
    """Per-pair rewards that enhance turns into choices and times."""
    if SOURCE == "synthetic":
        return [results(f"synthetic/{wildcards.split}/rewards.parquet")]
    return expand(
        results(f"scores/{wildcards.split}/shard-{{shard}}.parquet"), shard=SHARDS
    )


def label_file():
    """Per-pair rewards, choices and response times that chunks join with features."""
    if SOURCE == "recorded":
        return results("recorded/labels.parquet")
    return results(f"enhanced/{SPLIT}.parquet")


def recorded_inputs(wildcards):
    """The user's pairs files and, for pairs naming items, the embedded items."""
    inputs = {"pairs": config["recorded"]["pairs"]}
    if config["recorded"]["items"]:
        inputs["item_features"] = results("recorded/item_features.parquet")
    return inputs


def model_inputs(wildcards):
    """What a run reads besides chunks: the calibration (auto DDM) and embedder weights,
    whose identity the saved model records."""
    inputs = {}
    if CALIBRATE:
        inputs["calibration"] = results("calibration.json")
    if SOURCE == "demo":
        inputs.update(DEMO_MODEL)
    if SOURCE in IMAGE_SOURCES:
        inputs["prompts"] = results("prompts.parquet")
    return inputs


def feature_files(wildcards):
    """Per-pair features (x1, x2), in ascending pair order, that chunks join with labels."""
    if SOURCE == "recorded":
        return [results("recorded/features.parquet")]
    if SOURCE == "synthetic":
        return [results(f"synthetic/{SPLIT}/features.parquet")]
    return expand(results(f"embeddings/{SPLIT}/shard-{{shard}}.parquet"), shard=SHARDS)


def run_metrics():
    return expand(
        results("runs/{algorithm}/n{size}/seed{seed}/metrics.json"),
        algorithm=config["algorithms"],
        size=config["sizes"],
        seed=config["seeds"],
    )


def get_final_output():
    outputs = [
        results("summary.parquet"),
        *expand(results("figures/{metric}.png"), metric=FIGURE_METRICS),
    ]
    if REWARDS_KNOWN:
        outputs.append(results("figures/ddm_check.png"))
        if config["evaluation"]["best_of"]:
            outputs.append(results("figures/regret_at_k.png"))
    return outputs
