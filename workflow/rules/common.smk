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
FIGURE_METRICS = ["mse", "accuracy", "policy_value", "regret"]
IMAGE_SOURCES = ("demo", "pickapic")


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


def feature_files(wildcards):
    """Per-pair features (x1, x2), in ascending pair order, that chunks join with labels."""
    if SOURCE == "synthetic":
        return [results(f"synthetic/{SPLIT}/features.parquet")]
    return expand(results(f"embeddings/{SPLIT}/shard-{{shard}}.parquet"), shard=SHARDS)


# Synthetic data without a fixed reward_seed: every run seed gets its own world (reward
# function, rows, choices and times, test set), so seeds differ in data, not only in
# initialisation.
PER_SEED_WORLDS = (
    SOURCE == "synthetic" and config["synthetic"].get("reward_seed") is None
)


def run_chunks(wildcards):
    """Train and test chunk directories of a run: its seed's world, or the shared ones."""
    root = f"worlds/seed{wildcards.seed}/" if PER_SEED_WORLDS else ""
    return {
        "train": results(f"{root}chunks/train"),
        "test": results(f"{root}chunks/test"),
    }


def run_metrics():
    return expand(
        results("runs/{algorithm}/n{size}/seed{seed}/metrics.json"),
        algorithm=config["algorithms"],
        size=config["sizes"],
        seed=config["seeds"],
    )


# Users on: with the synthetic source the workflow's product is the personalization
# experiment (simulated users; it fits its own global baselines) instead of the size sweep;
# with an image source the users come from the data (the raw shards' user_id) and travel
# with the labels into the chunks, for the *_personalized learners of the sweep.
USERS_ON = config["users"]["enabled"]
PERSONALIZATION_EXPERIMENT = USERS_ON and SOURCE == "synthetic"
_personalized = [
    name for name in config["algorithms"] if name.endswith("_personalized")
]
if _personalized and not (USERS_ON and SOURCE != "synthetic"):
    raise ValueError(
        f"config: algorithms {_personalized} need user ids in the chunks: set users.enabled "
        "with an image source (demo, pickapic); for the synthetic source, simulated users run "
        "the personalization experiment (users.algorithms) instead"
    )


def user_id_files(wildcards):
    """Raw shards whose user_id enhance attaches to the labels (none when users are off)."""
    if not USERS_ON or SOURCE == "synthetic":
        return []
    return expand(
        results(f"raw/{wildcards.split}/shard-{{shard}}.parquet"), shard=SHARDS
    )


def get_final_output():
    if PERSONALIZATION_EXPERIMENT:
        return [
            results("personalized/summary.json"),
            results("figures/personalized_mse.png"),
            results("figures/barrier_estimates.png"),
        ]
    return [
        results("summary.parquet"),
        *expand(results("figures/{metric}.png"), metric=FIGURE_METRICS),
        results("figures/ddm_check.png"),
        results("figures/nuisance_error.png"),
    ]
