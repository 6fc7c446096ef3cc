import sys
from pathlib import Path

import yaml
from snakemake.utils import validate

from rtpref.configuration import ConfigError, check_config, coerce_to_schema
from rtpref.interrupt import (
    SIGTERM_EXIT_STATUS,
    sigterm_received,
    sigterm_summary,
    watch_sigterm,
)
from rtpref.names import FIGURE_METRICS, RECORDED_FIGURE_METRICS, options_for
from rtpref.sources.text_demo import text_pairs_planned

SCHEMA_FILE = Path(workflow.current_basedir) / "../../config/schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_FILE.read_text())
# `--config` values arrive as strings; type them by the schema, then check what the schema
# cannot (duplicate keys in the files, NaN, 200.0 as a count, a name that is a path), validate.
config.update(coerce_to_schema(config, SCHEMA))
try:
    check_config(config, SCHEMA, workflow.configfiles)
except ConfigError as error:
    # Raised afresh so that Snakemake prints the message without the library's frames.
    raise ConfigError(str(error)) from None
validate(config, schema=str(SCHEMA_FILE))

NAME = config["name"]
SOURCE = config["source"]
SPLIT = config["split"]
SHARDS = list(range(config["shards"]))
IMAGE_SOURCES = ("demo", "pickapic")
# Recorded data has no true rewards: its figures show the held-out fit instead.
REWARDS_KNOWN = SOURCE != "recorded"
PLOTTED_METRICS = FIGURE_METRICS if REWARDS_KNOWN else RECORDED_FIGURE_METRICS


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
    if SOURCE == "text":
        return text_pairs_planned(config["text"])
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
# Local datasets and model paths, before any job (jobs re-read the Snakefile: check once).
if SOURCE == "pickapic" and workflow.is_main_process:
    from rtpref.sources.pickapic_inputs import check_inputs

    check_inputs(config["pickapic"], SPLIT, config["sizes"], config["test_size"])


wildcard_constraints:
    split=SPLIT,
    algorithm="|".join(config["algorithms"]),
    size=r"\d+",
    seed=r"\d+",
    shard=r"\d+",
    metric="|".join(PLOTTED_METRICS),


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
    if SOURCE == "text":
        return expand(
            results(f"text/scores/{wildcards.split}/shard-{{shard}}.parquet"),
            shard=SHARDS,
        )
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
    if SOURCE == "text":
        inputs["prompts"] = results(f"text/groups/{SPLIT}.parquet")
    return inputs


def feature_files(wildcards):
    """Per-pair features (x1, x2), in ascending pair order, that chunks join with labels."""
    if SOURCE == "recorded":
        return [results("recorded/features.parquet")]
    if SOURCE == "synthetic":
        return [results(f"synthetic/{SPLIT}/features.parquet")]
    if SOURCE == "text":
        return expand(
            results(f"text/embeddings/{SPLIT}/shard-{{shard}}.parquet"), shard=SHARDS
        )
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


def run_inputs(wildcards):
    """Everything a run reads: its chunk directories and the model inputs."""
    return {**run_chunks(wildcards), **model_inputs(wildcards)}


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


# Image sources with users on: simulated users on top of the scorer's rewards (each real
# user's taste delta, barrier and non-decision time, drawn from users.seed and the user id),
# when any of their scales is > 0; None keeps one reward, barrier and t0 for everyone.
_SIMULATED_USER_KEYS = ("delta_scale", "barrier_spread", "non_decision_spread")
USER_SIMULATION = (
    {
        key: config["users"][key]
        for key in ("rank", "seed", "enabled", *_SIMULATED_USER_KEYS)
        if key in config["users"]
    }
    if USERS_ON
    and SOURCE in IMAGE_SOURCES
    and any(config["users"].get(key, 0) > 0 for key in _SIMULATED_USER_KEYS)
    else None
)
if (
    USER_SIMULATION
    and USER_SIMULATION.get("non_decision_spread", 0) > 0
    and not config["ddm"]["non_decision_time"] > 0
):
    raise ValueError(
        f"config: users.non_decision_spread={USER_SIMULATION['non_decision_spread']} spreads "
        "t0 around ddm.non_decision_time, which is 0; set ddm.non_decision_time > 0"
    )
# Image sources with users on split by user: users.unseen_fraction of the users are test-only.
USER_SPLIT = (
    {
        "unseen_fraction": config["users"].get("unseen_fraction", 0.2),
        "seed": config["users"].get("seed", 0),
    }
    if USERS_ON and SOURCE in IMAGE_SOURCES
    else None
)


def user_feature_files(wildcards):
    """Features phi(x) of every pair, which the user deltas s <e_u, P phi(x)> read (only when
    users.delta_scale > 0)."""
    if USER_SIMULATION is None or not USER_SIMULATION.get("delta_scale", 0) > 0:
        return []
    return expand(
        results(f"embeddings/{wildcards.split}/shard-{{shard}}.parquet"), shard=SHARDS
    )


def get_final_output():
    if SOURCE == "flow":
        return flow_final_output()  # below
    if PERSONALIZATION_EXPERIMENT:
        return [
            results("personalized/summary.json"),
            results("figures/personalized_mse.png"),
            results("figures/barrier_estimates.png"),
        ]
    # Every run is a target of its own: Snakemake does not rebuild a missing intermediate
    # whose consumers are up to date, so a deleted metrics.json would otherwise stay missing
    # while the summary kept reporting it.
    outputs = [
        *run_metrics(),
        results("summary.parquet"),
        *expand(results("figures/{metric}.png"), metric=PLOTTED_METRICS),
        # Which test items share a prompt (best-of-k reranking).
        *([results(f"text/groups/{SPLIT}.parquet")] if SOURCE == "text" else []),
    ]
    if REWARDS_KNOWN:
        outputs.append(results("figures/ddm_check.png"))
        outputs.append(results("figures/nuisance_error.png"))
        if config["evaluation"]["best_of"]:
            outputs.append(results("figures/regret_at_k.png"))
    return outputs


onstart:
    watch_sigterm()


onerror:
    # After a SIGTERM, say what happened instead of Snakemake's "At least one job did not
    # complete successfully", which it also prints when every job that ran succeeded.
    if sigterm_received():
        print(
            sigterm_summary(
                workflow.scheduler.failed, workflow.scheduler.remaining_jobs
            ),
            file=sys.stderr,
        )
        raise SystemExit(SIGTERM_EXIT_STATUS)


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
