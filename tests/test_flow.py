"""Unit tests of rtpref.flow: shapes and their reward, checkpoints, fine-tuning, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtpref.flow import evaluation, finetune, generator, pipeline, rewards, shapes

CONFIG = shapes.ShapeConfig(points=16, noise=0.01)


def draw(kinds, seed=0, config=CONFIG):
    return shapes.sample_shapes(np.asarray(kinds), config, np.random.default_rng(seed))


def rotate(flat: np.ndarray, angle: float) -> np.ndarray:
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (flat.reshape(len(flat), -1, 2) @ rotation.T).reshape(len(flat), -1)


def test_shapes_have_the_configured_size_and_are_reproducible() -> None:
    first = draw([0, 1, 1], seed=3)
    assert first.shape == (3, CONFIG.dim) and first.dtype == np.float32
    np.testing.assert_array_equal(first, draw([0, 1, 1], seed=3))
    assert not np.array_equal(first, draw([0, 1, 1], seed=4))


def test_the_classifier_tells_s_curves_from_swiss_rolls() -> None:
    kinds = np.random.default_rng(0).integers(0, 2, 400)
    np.testing.assert_array_equal(shapes.is_s_curve(draw(kinds)), kinds == 1)


def test_random_wiggles_are_not_s_curves() -> None:
    wiggles = np.random.default_rng(0).standard_normal((200, CONFIG.dim))
    s_curves = draw(np.ones(200, dtype=int))
    assert shapes.is_s_curve(wiggles).mean() < 0.2
    assert shapes.s_curve_likeness(wiggles).mean() < shapes.s_curve_likeness(s_curves).min()


def test_the_reward_ignores_rotation_scale_reflection_and_direction() -> None:
    shape = draw([0, 1, 0, 1], seed=1)
    reward = shapes.s_curve_likeness(shape)
    reversed_path = shape.reshape(4, -1, 2)[:, ::-1].reshape(4, -1)
    mirrored = shape * np.tile([1.0, -1.0], CONFIG.points)
    for variant in (rotate(shape, 1.1), 2.5 * shape, reversed_path, mirrored):
        np.testing.assert_allclose(shapes.s_curve_likeness(variant), reward, atol=1e-9)
    assert ((reward >= 0) & (reward <= 1)).all()


def test_the_training_mix_has_the_configured_share_of_s_curves() -> None:
    _, kinds = shapes.sample_mix(4000, 0.2, CONFIG, np.random.default_rng(0))
    assert abs(kinds.mean() - 0.2) < 0.03


@pytest.mark.parametrize("bad", [{"points": 3}, {"scale_min": 0}, {"noise": -1.0}])
def test_bad_shape_settings_name_the_key(bad) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        shapes.ShapeConfig(**bad)


def tiny_generator(seed: int = 0) -> generator.VelocityNet:
    return generator.make_generator(CONFIG.dim, (8,), seed)


def test_checkpoint_round_trip_gives_the_same_samples(tmp_path) -> None:
    model = tiny_generator()
    path = tmp_path / "a.safetensors"
    generator.save_generator(model, path)
    noise = generator.initial_noise(5, CONFIG.dim, 0)
    np.testing.assert_array_equal(
        generator.sample(generator.load_generator(path), noise, 3),
        generator.sample(model, noise, 3),
    )


def test_a_pickled_checkpoint_is_refused_without_unpickling(tmp_path) -> None:
    path = tmp_path / "pickled.safetensors"
    torch.save(tiny_generator().state_dict(), path)
    with pytest.raises(generator.CheckpointError, match="pickled.safetensors"):
        generator.load_generator(path)


def test_a_safetensors_file_of_something_else_is_refused(tmp_path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2)}, str(path))
    with pytest.raises(generator.CheckpointError, match="format"):
        generator.load_generator(path)


def test_reward_weights_favour_higher_learned_rewards() -> None:
    scores = np.array([0.0, 1.0, 2.0, 3.0])
    weights = finetune.reward_weights(scores, 2.0)
    assert torch.all(weights[1:] > weights[:-1])
    assert float(weights.sum()) == pytest.approx(1.0)
    torch.testing.assert_close(finetune.reward_weights(scores, 0.0), torch.full((4,), 0.25))


def test_pmpo_positives_are_the_top_and_negatives_the_bottom() -> None:
    scores = np.array([0.3, 0.9, 0.1, 0.5, 0.7, 0.2, 0.8, 0.4])
    positives, negatives = finetune.split_by_reward(scores, 0.25)
    assert set(positives.tolist()) == {1, 6}
    assert set(negatives.tolist()) == {2, 5}


@pytest.mark.parametrize("method", finetune.METHODS)
def test_a_tiny_finetune_is_deterministic_and_leaves_a_unchanged(method) -> None:
    model_a = tiny_generator()
    before = {name: value.clone() for name, value in model_a.state_dict().items()}
    pool = draw(np.arange(40) % 2)
    scores = shapes.s_curve_likeness(pool)
    config = finetune.FinetuneConfig(steps=3, batch_size=8)
    first, second = (
        finetune.finetune(model_a, pool, scores, method, config, 5, lambda *_: None)
        for _ in range(2)
    )
    for name, value in first.state_dict().items():
        torch.testing.assert_close(value, second.state_dict()[name], rtol=0, atol=0)
        torch.testing.assert_close(model_a.state_dict()[name], before[name], rtol=0, atol=0)
    assert any(not torch.equal(value, before[name]) for name, value in first.state_dict().items())


def test_metrics_of_a_set_against_itself() -> None:
    sample = draw(np.arange(50) % 2)
    metrics = evaluation.evaluate(sample, sample)
    assert metrics["energy_distance_to_a"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["s_curve_fraction"] == pytest.approx(0.5)
    assert metrics["diversity"] > 0
    collapsed = evaluation.evaluate(np.repeat(sample[:1], 50, axis=0), sample)
    assert collapsed["diversity"] == pytest.approx(0.0, abs=1e-6)
    assert collapsed["energy_distance_to_a"] > 0


def test_random_choices_are_fair_coin_flips_from_the_seed() -> None:
    choices = rewards.random_choices(1000, 7)
    assert set(np.unique(choices)) == {-1, 1}
    np.testing.assert_array_equal(choices, rewards.random_choices(1000, 7))
    assert abs(choices.mean()) < 0.1


def test_step_seeds_differ_by_step_and_repeat_by_seed() -> None:
    assert pipeline.seed_for(0, "pool") == pipeline.seed_for(0, "pool")
    assert (
        len(
            {
                pipeline.seed_for(0, "pool"),
                pipeline.seed_for(0, "queries"),
                pipeline.seed_for(1, "pool"),
            }
        )
        == 3
    )
