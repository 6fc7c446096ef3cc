"""Losses against hand-computed values; learners' structure, determinism and learning."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from rtpref import ddm
from rtpref.data import DataError, Pairs
from rtpref.learners import (
    ALGORITHMS,
    LEARNER_CLASSES,
    LEARNERS,
    REFERENCE_LINES,
    CrossFitOrthogonalLearner,
    LogLossLearner,
    OrthogonalLearner,
    TrainingDiverged,
    losses,
    make_learner,
)
from rtpref.learners.estimators import validation_split
from rtpref.learners.loop import Optimisation, mean_loss, train
from rtpref.learners.networks import (
    Dropout,
    ModelShapedTimeNet,
    RewardNet,
    SiameseTimeNet,
    TimeNet,
)
from rtpref.metrics import evaluate
from rtpref.names import options_for


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


def test_known_mean_time_loss_by_hand() -> None:
    diff = torch.tensor([0.4, -1.0])
    choice = torch.tensor([1.0, -1.0])
    true_time = torch.tensor([0.8, 0.5])
    a = 2.0
    expected = ((2.0 / 0.8 - 0.4) ** 2 + (-2.0 / 0.5 + 1.0) ** 2) / 2
    assert losses.known_mean_time_loss(diff, choice, true_time, a).item() == pytest.approx(expected)


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


SMALL_TRAINING = dict(
    hidden=[16, 16],
    log_loss_hidden=[16, 16],
    dropout=0.1,
    batch_norm=True,
    learning_rate=3e-3,
    batch_size=64,
    log_loss_epochs=8,
    stage1_epochs=4,
    stage2_epochs=8,
)


def small(algorithm: str, seed: int = 0, **overrides):
    return make_learner(algorithm, {**SMALL_TRAINING, **overrides}, seed=seed)


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
    [*ALGORITHMS, "concat_time", "model_shaped_weighted"],
)
def test_learners_learn_are_antisymmetric_and_deterministic(algorithm: str) -> None:
    torch.set_num_threads(1)
    train, test = linear_pairs(1500, 0), linear_pairs(2000, 1)
    options = {}
    if algorithm == "concat_time":  # orthogonal with the concatenated time network
        algorithm, options = "orthogonal", {"time_net": "concat"}
    if algorithm == "model_shaped_weighted":
        algorithm = "orthogonal"
        options = {"time_net": "model_shaped", "stage2_weighting": "inverse_time"}
    learner = small(algorithm, seed=3, **options)
    assert learner.fit(train) is learner
    predicted = learner.predict_diff(test.x1, test.x2)
    np.testing.assert_allclose(learner.predict_diff(test.x2, test.x1), -predicted, atol=1e-5)
    rewards = learner.predict_reward(test.x1), learner.predict_reward(test.x2)
    np.testing.assert_allclose(rewards[0] - rewards[1], predicted, atol=1e-4)
    assert isinstance(learner.reward_net_, RewardNet)
    metrics = evaluate(predicted, test.choice, test.reward_1, test.reward_2)
    baseline = evaluate(np.zeros_like(predicted), test.choice, test.reward_1, test.reward_2)
    assert metrics["accuracy_true"] > 0.8
    assert metrics["mse"] < 0.5 * baseline["mse"]
    for stage, record in learner.selection_.items():
        assert 1 <= record.epochs_chosen <= record.epochs_run, stage
        assert record.best_validation_loss == pytest.approx(min(record.validation_curve), 1e-4)
    again = small(algorithm, seed=3, **options).fit(train).predict_diff(test.x1, test.x2)
    np.testing.assert_array_equal(again, predicted)
    other_seed = small(algorithm, seed=4, **options).fit(train).predict_diff(test.x1, test.x2)
    assert not np.array_equal(other_seed, predicted)


def test_estimator_options_are_constructor_arguments() -> None:
    learner = make_learner(
        "orthogonal_crossfit",
        {**SMALL_TRAINING, "crossfit_folds": 3, "patience": None},
        barrier=1.5,
        non_decision_time=0.3,
        seed=7,
    )
    params = learner.get_params()
    assert params["hidden"] == (16, 16) and params["crossfit_folds"] == 3
    assert params["barrier"] == 1.5 and params["non_decision_time"] == 0.3
    assert params["patience"] is None and params["seed"] == 7
    assert isinstance(learner, CrossFitOrthogonalLearner)
    # log_loss reads its own width and budget, not the two-stage ones.
    log_loss = make_learner("log_loss", {**SMALL_TRAINING, "log_loss_hidden": [5]})
    assert isinstance(log_loss, LogLossLearner) and log_loss.hidden == (5,)
    assert log_loss.epochs == SMALL_TRAINING["log_loss_epochs"]
    assert "stage1_epochs" not in options_for("log_loss", SMALL_TRAINING)
    assert "log_loss_epochs" not in options_for("orthogonal", SMALL_TRAINING)
    assert set(LEARNER_CLASSES) == set(LEARNERS) and not set(LEARNERS) & set(REFERENCE_LINES)
    with pytest.raises(RuntimeError, match="not fitted"):
        OrthogonalLearner().predict_diff(np.zeros((1, 2), np.float32), np.zeros((1, 2), np.float32))


def test_non_decision_time_is_subtracted_before_fitting() -> None:
    """Data with t0 added, fitted with that t0, equals the data without it fitted with 0."""
    pairs = linear_pairs(400, 0)
    shifted = dataclasses.replace(pairs, response_time=pairs.response_time + 0.25)
    plain = small("nonorthogonal", seed=1).fit(pairs)
    with_t0 = make_learner(
        "nonorthogonal", SMALL_TRAINING, seed=1, non_decision_time=0.25
    ).fit(shifted)
    np.testing.assert_allclose(
        with_t0.predict_diff(pairs.x1, pairs.x2), plain.predict_diff(pairs.x1, pairs.x2),
        atol=1e-4,
    )


def test_validation_split_is_seeded_disjoint_and_complete() -> None:
    fit, held_out = validation_split(100, 0.2, seed=1)
    assert held_out.size == 20 and fit.size == 80
    assert set(fit) | set(held_out) == set(range(100)) and not set(fit) & set(held_out)
    np.testing.assert_array_equal(validation_split(100, 0.2, seed=1)[1], held_out)
    assert not np.array_equal(validation_split(100, 0.2, seed=2)[1], held_out)
    everything, none = validation_split(10, 0.0, seed=1)
    assert none is None and everything.size == 10
    with pytest.raises(ValueError, match="validation_fraction"):
        validation_split(2, 0.5, seed=0)


def test_early_stopping_keeps_the_best_validation_epoch() -> None:
    """A model fitted to targets the validation rows contradict: the validation loss turns
    up, training stops ``patience`` epochs after its minimum and the best weights return."""
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    fit = {"x": x, "y": 3 * x[:, 0]}
    validation = {"x": x, "y": 0.5 * x[:, 0]}

    def batch_loss(batch):
        return (model(batch["x"])[:, 0] - batch["y"]).square().mean()

    settings = Optimisation(learning_rate=0.05, batch_size=16, patience=3)
    record = train(model, batch_loss, fit, 200, settings, seed=0, label="t", validation=validation)
    curve = record.validation_curve
    assert record.epochs_run < 200
    assert record.epochs_chosen == int(np.argmin(curve)) + 1
    assert record.epochs_run - record.epochs_chosen == settings.patience
    assert mean_loss(model, batch_loss, validation) == pytest.approx(
        record.best_validation_loss, rel=1e-6
    )
    # Without validation rows the whole budget runs and nothing is selected.
    plain = train(model, batch_loss, fit, 5, settings, seed=0, label="t")
    assert (plain.epochs_run, plain.epochs_chosen, plain.best_validation_loss) == (5, 5, None)


def test_reference_lines_need_true_rewards() -> None:
    pairs = linear_pairs(200, 0)
    unknown = dataclasses.replace(pairs, reward_1=np.full(len(pairs), np.nan))
    for algorithm in REFERENCE_LINES:
        with pytest.raises(DataError, match="true rewards"):
            small(algorithm).fit(unknown)


def test_model_shaped_time_net_is_the_ddm_mean_time_of_its_difference() -> None:
    torch.manual_seed(0)
    net = ModelShapedTimeNet(3, (8,), dropout=0.0, batch_norm=False, barrier=1.3).eval()
    x1, x2 = torch.randn(50, 3), torch.randn(50, 3)
    x1[0] = x2[0]  # a zero difference takes the series branch
    with torch.no_grad():
        diff = net.reward.pair_diff(x1, x2).double().numpy()
        np.testing.assert_allclose(net(x1, x2).numpy(), ddm.mean_time(diff, 1.3), rtol=1e-5)


def test_inverse_time_weights_clip_small_times() -> None:
    weights = losses.inverse_time_weights(torch.tensor([2.0, 0.5, 1e-6]), barrier=1.0)
    torch.testing.assert_close(weights, torch.tensor([0.5, 2.0, 20.0]))


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
    broken = dataclasses.replace(pairs, response_time=np.full(len(pairs), np.nan))
    learner = make_learner("orthogonal", SMALL_TRAINING, label="orthogonal/n300/seed0")
    with pytest.raises(TrainingDiverged, match="orthogonal/n300/seed0.*stage1_time"):
        learner.fit(broken)


def test_unknown_algorithm_and_bad_options() -> None:
    pairs = linear_pairs(100, 0)
    with pytest.raises(ValueError, match="unknown algorithm 'ridge'"):
        make_learner("ridge", SMALL_TRAINING)
    with pytest.raises(ValueError, match="crossfit_folds=200"):
        small("orthogonal_crossfit", crossfit_folds=200).fit(pairs)
    with pytest.raises(ValueError, match="unknown training option"):
        make_learner("log_loss", {"epochz": 3})
    with pytest.raises(ValueError, match="time_net='bogus'"):
        small("orthogonal", time_net="bogus").fit(pairs)


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
