"""Losses against hand-computed values; learners' structure, determinism and learning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rtpref import ddm
from rtpref.data import Pairs
from rtpref.learners import TrainingConfig, TrainingDiverged, fit_learner, losses
from rtpref.learners.networks import Dropout, RewardNet, SiameseTimeNet, TimeNet
from rtpref.metrics import evaluate


def test_log_loss_by_hand() -> None:
    diff, choice = torch.tensor([1.0, -0.5]), torch.tensor([1.0, -1.0])
    # -log sigmoid(2a * diff * y), averaged; a = 0.7
    expected = (math.log1p(math.exp(-1.4)) + math.log1p(math.exp(-0.7))) / 2
    assert losses.log_loss(diff, choice, 0.7).item() == pytest.approx(expected, rel=1e-6)


def test_response_time_losses_by_hand() -> None:
    diff = torch.tensor([0.4, -1.0])
    choice = torch.tensor([1.0, 1.0])
    time = torch.tensor([0.9, 0.5])
    time_hat = torch.tensor([0.8, 0.6])
    diff_hat = torch.tensor([0.5, -0.2])
    a = 2.0
    r1 = 1 - (0.9 - 0.8) * 0.5 / a - 0.4 / a * 0.8
    r2 = 1 - (0.5 - 0.6) * -0.2 / a - (-1.0) / a * 0.6
    assert losses.orthogonal_loss(diff, choice, time, time_hat, diff_hat, a).item() == (
        pytest.approx((r1**2 + r2**2) / 2, rel=1e-6)
    )
    n1, n2 = 1 - 0.4 / a * 0.8, 1 + 1.0 / a * 0.6
    assert losses.nonorthogonal_loss(diff, choice, time_hat, a).item() == pytest.approx(
        (n1**2 + n2**2) / 2, rel=1e-6
    )


def test_oracle_loss_by_hand() -> None:
    diff = torch.tensor([0.4, -1.0])
    choice = torch.tensor([1.0, -1.0])
    true_time = torch.tensor([0.8, 0.5])
    a = 2.0
    expected = ((2.0 / 0.8 - 0.4) ** 2 + (-2.0 / 0.5 + 1.0) ** 2) / 2
    assert losses.oracle_loss(diff, choice, true_time, a).item() == pytest.approx(expected)


def test_orthogonal_loss_is_neyman_orthogonal() -> None:
    """At the true f, the loss gradient with respect to f does not move (to first order) when
    the nuisances are perturbed; for the non-orthogonal loss it does."""
    rng = np.random.default_rng(0)
    drift = rng.uniform(-2, 2, 400_000)
    choice, time = ddm.simulate(drift, 1.0, rng)
    v = torch.tensor(drift)
    y, t = torch.tensor(choice, dtype=torch.float64), torch.tensor(time)
    true_time = torch.tensor(ddm.mean_time(drift))
    time_direction, diff_direction = 0.3 * true_time, 0.5 * torch.sign(v)

    def score(loss, eps: float) -> float:
        scale = torch.zeros((), dtype=torch.float64, requires_grad=True)
        f = v * (1 + scale)
        time_hat = true_time + eps * time_direction
        diff_hat = v + eps * diff_direction
        if loss is losses.orthogonal_loss:
            value = loss(f, y, t, time_hat, diff_hat)
        else:
            value = loss(f, y, time_hat)
        (gradient,) = torch.autograd.grad(value, scale)
        return gradient.item()

    def cross_derivative(loss) -> float:
        return (score(loss, 1e-3) - score(loss, -1e-3)) / 2e-3

    orthogonal = abs(cross_derivative(losses.orthogonal_loss))
    nonorthogonal = abs(cross_derivative(losses.nonorthogonal_loss))
    assert nonorthogonal > 0.1
    assert orthogonal < 0.05 * nonorthogonal


def small_config(**overrides) -> TrainingConfig:
    values = dict(
        hidden=(16, 16),
        log_loss_hidden=(16, 16),
        dropout=0.1,
        batch_norm=True,
        learning_rate=3e-3,
        batch_size=64,
        log_loss_epochs=8,
        stage1_epochs=4,
        stage2_epochs=8,
    )
    values.update(overrides)
    return TrainingConfig(**values)


def linear_pairs(rows: int, seed: int, dim: int = 5) -> Pairs:
    rng = np.random.default_rng(seed)
    weights = np.linspace(1.0, -1.0, dim)
    x1 = rng.standard_normal((rows, dim)).astype(np.float32)
    x2 = rng.standard_normal((rows, dim)).astype(np.float32)
    r1, r2 = x1.astype(np.float64) @ weights, x2.astype(np.float64) @ weights
    choice, time = ddm.simulate(r1 - r2, 1.0, rng)
    return Pairs(np.arange(rows), x1, x2, r1, r2, choice, time)


@pytest.mark.parametrize(
    "algorithm",
    ["log_loss", "orthogonal", "nonorthogonal", "orthogonal_crossfit", "oracle", "concat_time"],
)
def test_learners_learn_are_antisymmetric_and_deterministic(algorithm: str) -> None:
    torch.set_num_threads(1)
    train, test = linear_pairs(1500, 0), linear_pairs(2000, 1)
    config = small_config()
    if algorithm == "concat_time":  # orthogonal with the concatenated time network
        algorithm, config = "orthogonal", small_config(time_net="concat")
    learner = fit_learner(algorithm, train, config, seed=3)
    predicted = learner.predict_diff(test.x1, test.x2)
    np.testing.assert_allclose(learner.predict_diff(test.x2, test.x1), -predicted, atol=1e-5)
    metrics = evaluate(predicted, test.choice, test.reward_1, test.reward_2)
    baseline = evaluate(np.zeros_like(predicted), test.choice, test.reward_1, test.reward_2)
    assert metrics["accuracy_true"] > 0.8
    assert metrics["mse"] < 0.5 * baseline["mse"]
    again = fit_learner(algorithm, train, config, seed=3).predict_diff(test.x1, test.x2)
    np.testing.assert_array_equal(again, predicted)
    other_seed = fit_learner(algorithm, train, config, seed=4).predict_diff(test.x1, test.x2)
    assert not np.array_equal(other_seed, predicted)


@pytest.mark.parametrize("network", [SiameseTimeNet, TimeNet])
def test_time_nets_are_positive_and_swap_symmetric(network) -> None:
    torch.manual_seed(0)
    net = network(3, (8,), dropout=0.0, batch_norm=True).eval()
    x1, x2 = torch.randn(50, 3), torch.randn(50, 3)
    forward, backward = net(x1, x2), net(x2, x1)
    assert torch.all(forward > 0)
    torch.testing.assert_close(forward, backward)
    assert forward.std() > 0


def test_reward_net_pair_diff_is_antisymmetric() -> None:
    torch.manual_seed(0)
    net = RewardNet(3, (8,), dropout=0.0, batch_norm=True).eval()
    x1, x2 = torch.randn(20, 3), torch.randn(20, 3)
    torch.testing.assert_close(net.pair_diff(x1, x2), -net.pair_diff(x2, x1))


def test_nan_loss_stops_with_the_run_named() -> None:
    pairs = linear_pairs(300, 0)
    broken = Pairs(
        pairs.pair_index,
        pairs.x1,
        pairs.x2,
        pairs.reward_1,
        pairs.reward_2,
        pairs.choice,
        np.full(len(pairs), np.nan),
    )
    with pytest.raises(TrainingDiverged, match="orthogonal/n300/seed0.*stage1 time"):
        fit_learner("orthogonal", broken, small_config(), seed=0, label="orthogonal/n300/seed0")


def test_unknown_algorithm_and_bad_folds() -> None:
    pairs = linear_pairs(100, 0)
    with pytest.raises(ValueError, match="unknown algorithm 'ridge'"):
        fit_learner("ridge", pairs, small_config(), seed=0)
    with pytest.raises(ValueError, match="crossfit_folds=200"):
        fit_learner("orthogonal_crossfit", pairs, small_config(crossfit_folds=200), seed=0)
    with pytest.raises(ValueError, match="unknown training option"):
        TrainingConfig.from_mapping({"epochz": 3})


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5])
def test_dropout_drops_p_of_the_elements_and_keeps_the_mean(p: float) -> None:
    layer = Dropout(p).train()
    ones = torch.ones(400, 1000)
    torch.manual_seed(0)
    out = layer(ones)
    dropped = (out == 0).float().mean().item()
    # 400,000 Bernoulli(p) draws: standard error <= 0.0008.
    assert dropped == pytest.approx(p, abs=0.004)
    kept = torch.isclose(out, torch.tensor(1 / (1 - layer.p)))
    assert torch.all((out == 0) | kept)
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)
    # Masks differ between rows (not one mask repeated) and come from the seed.
    assert not torch.equal(out[0], out[1])
    torch.manual_seed(0)
    assert torch.equal(layer(ones), out)


def test_dropout_is_the_identity_in_eval_mode_and_at_zero() -> None:
    x = torch.randn(8, 5)
    assert torch.equal(Dropout(0.3).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.0)
