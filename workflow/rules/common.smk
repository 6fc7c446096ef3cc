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
    if SOURCE == "flow":
        return None  # queries are sampled from the generator: any budget is available
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


def run_metrics():
    return expand(
        results("runs/{algorithm}/n{size}/seed{seed}/metrics.json"),
        algorithm=config["algorithms"],
        size=config["sizes"],
        seed=config["seeds"],
    )


def get_final_output():
    if SOURCE == "flow":
        return flow_final_output()  # below
    return [
        results("summary.parquet"),
        *expand(results("figures/{metric}.png"), metric=FIGURE_METRICS),
        results("figures/ddm_check.png"),
    ]


# The generator experiment (source flow): generator A -> query pairs from A -> DDM choices
# and times -> a reward per learner -> B fine-tuned from A -> metrics, summary and figures.
FLOW_LEARNERS = config["algorithms"] + (
    ["random_choice"] if config["flow"]["random_choice_control"] else []
)
FLOW_METHODS = config["flow"]["methods"]
FLOW_METRICS = ["s_curve_fraction", "true_reward", "diversity"]


wildcard_constraints:
    learner="|".join(FLOW_LEARNERS),
    method="|".join(FLOW_METHODS),
    flow_metric="|".join(FLOW_METRICS),


def flow(path):
    return results(f"flow/{path}")


def flow_run_metrics():
    return expand(
        flow("runs/{learner}/{method}/n{size}/seed{seed}/metrics.json"),
        learner=FLOW_LEARNERS,
        method=FLOW_METHODS,
        size=config["sizes"],
        seed=config["seeds"],
    )


# The Bs drawn in the samples figure: the first learner, largest budget, first seed.
FLOW_SAMPLE_RUN = dict(
    learner=FLOW_LEARNERS[0], size=max(config["sizes"]), seed=config["seeds"][0]
)


def flow_sample_generators():
    return expand(
        flow("generators/{learner}/{method}/n{size}/seed{seed}.safetensors"),
        method=FLOW_METHODS,
        **FLOW_SAMPLE_RUN,
    )


def flow_sample_labels():
    return [
        "{learner} {method} n{size} seed{seed}".format(method=method, **FLOW_SAMPLE_RUN)
        for method in FLOW_METHODS
    ]


def flow_final_output():
    return [
        flow("summary.parquet"),
        flow("table.md"),
        *expand(results("figures/flow_{flow_metric}.png"), flow_metric=FLOW_METRICS),
        results("figures/flow_samples.png"),
    ]
