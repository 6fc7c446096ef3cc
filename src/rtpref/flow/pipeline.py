"""The steps of the flow experiment as functions of config blocks and files (one per rule).

Every random draw comes from a seed built from the config: the generator's own seed, or the
run seed together with the name of the step (``seed_for``), so each step of each run has its
own stream and a rerun reproduces every file bit for bit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from rtpref.data import Pairs
from rtpref.enhance import simulate_labels
from rtpref.flow import evaluation, finetune, generator, rewards, shapes, store

log = logging.getLogger(__name__)


def seed_for(seed: int, step: str) -> int:
    """An independent, reproducible seed per (config seed, step name)."""
    words = [seed, *step.encode()]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> 1)


def train_base_generator(
    shape_settings: Mapping[str, Any], settings: Mapping[str, Any]
) -> generator.VelocityNet:
    """Generator A: flow matching on a mix that favours Swiss rolls over S-curves."""
    rng = np.random.default_rng(seed_for(settings["seed"], "training shapes"))
    data, kinds = shapes.sample_mix(
        settings["train_shapes"],
        settings["s_curve_fraction"],
        shapes.ShapeConfig(**shape_settings),
        rng,
    )
    log.info("%d training shapes, %.3f S-curves", len(data), kinds.mean())
    config = generator.FlowConfig(
        hidden=tuple(settings["hidden"]),
        steps=settings["steps"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
    )
    model, _ = generator.train_generator(
        data, config, seed_for(settings["seed"], "generator"), log.info
    )
    return model


def sample_generator(
    model: generator.VelocityNet, rows: int, seed: int, sample_steps: int
) -> np.ndarray:
    """``rows`` shapes from ``model``, integrated from noise drawn with ``seed``."""
    noise = generator.initial_noise(rows, model.dim, seed)
    return generator.sample(model, noise, sample_steps)


def query_pairs(
    model: generator.VelocityNet, pairs: int, seed: int, sample_steps: int
) -> dict[str, np.ndarray]:
    """``pairs`` queries, both shapes sampled from A, with the person's true reward of each."""
    both = sample_generator(model, 2 * pairs, seed_for(seed, "queries"), sample_steps)
    first, second = both[:pairs], both[pairs:]
    return {
        "pair_index": np.arange(pairs, dtype=np.int64),
        "shape_1": first,
        "shape_2": second,
        "reward_1": shapes.s_curve_likeness(first),
        "reward_2": shapes.s_curve_likeness(second),
    }


def pool_shapes(
    model: generator.VelocityNet, rows: int, seed: int, sample_steps: int
) -> np.ndarray:
    """The shapes from A that the learned reward scores and B is fine-tuned on."""
    return sample_generator(model, rows, seed_for(seed, "pool"), sample_steps)


def simulate_choices(queries: pa.Table, ddm: Mapping[str, Any], seed: int, source: str) -> pa.Table:
    """Choices and response times from the exact DDM sampler, drift = scaled reward difference."""
    return simulate_labels(
        queries.select(["pair_index", "reward_1", "reward_2"]),
        barrier=ddm["barrier"],
        seed=seed_for(seed, f"ddm {ddm['seed']}"),
        reward_diff_std=ddm["reward_diff_std"],
        reward_scale=ddm["reward_scale"],
        source=source,
    )


def learned_pool_rewards(
    learner: str,
    size: int,
    seed: int,
    queries: pa.Table,
    labels: pa.Table,
    pool: np.ndarray,
    settings: Mapping[str, Any],
    source: str,
) -> np.ndarray:
    """Learn a reward from the first ``size`` queries; return it on every pool shape.

    ``settings`` holds ``features``, ``control_algorithm``, ``training`` (the learners' block)
    and ``barrier``. The budgets are nested: a larger budget sees the smaller one's queries.
    """
    if size > labels.num_rows:
        raise ValueError(f"{source}: query budget {size} exceeds the {labels.num_rows} queries")
    features = settings["features"]
    choice = labels.column("choice").to_numpy()[:size]
    algorithm = learner
    if learner == rewards.RANDOM_CHOICE:
        choice = rewards.random_choices(size, seed_for(seed, f"random choices {size}"))
        algorithm = settings["control_algorithm"]
    first = store.shapes_of(queries, "shape_1", source)[:size]
    second = store.shapes_of(queries, "shape_2", source)[:size]
    pairs = Pairs(
        pair_index=labels.column("pair_index").to_numpy()[:size],
        x1=rewards.shape_features(first, features),
        x2=rewards.shape_features(second, features),
        reward_1=labels.column("reward_1").to_numpy()[:size],
        reward_2=labels.column("reward_2").to_numpy()[:size],
        choice=choice,
        response_time=labels.column("response_time").to_numpy()[:size],
    )
    reward = rewards.learn_reward(
        algorithm, pairs, dict(settings["training"]), settings["barrier"], seed
    )
    return reward(rewards.shape_features(pool, features))


def finetune_generator(
    model_a: generator.VelocityNet,
    pool: np.ndarray,
    scores: np.ndarray,
    method: str,
    seed: int,
    settings: Mapping[str, Any],
) -> generator.VelocityNet:
    """Model B from A, the pool and its learned rewards (``settings``: ``flow.finetune``)."""
    return finetune.finetune(
        model_a,
        pool,
        scores,
        method,
        finetune.FinetuneConfig(**settings),
        seed_for(seed, f"finetune {method}"),
        log.info,
    )


def evaluation_shapes(
    model: generator.VelocityNet, settings: Mapping[str, Any], sample_steps: int
) -> np.ndarray:
    """Shapes from the evaluation noise, the same noise for A and every B (``flow.evaluation``)."""
    return sample_generator(model, settings["samples"], settings["seed"], sample_steps)


def evaluate_generator(
    model: generator.VelocityNet,
    shapes_a: np.ndarray,
    settings: Mapping[str, Any],
    sample_steps: int,
) -> dict[str, float]:
    """Metrics of ``model``'s evaluation shapes, against A's evaluation shapes ``shapes_a``."""
    return evaluation.evaluate(evaluation_shapes(model, settings, sample_steps), shapes_a)
