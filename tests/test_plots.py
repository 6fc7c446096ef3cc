"""Confidence bands in the metric figures stay within what each metric can take."""

from __future__ import annotations

from pathlib import Path

import matplotlib.axes
import numpy as np
import polars as pl
import pytest

from rtpref.plots import METRIC_RANGES, band_within_range, mean_interval, plot_metric


def two_seed_summary() -> pl.DataFrame:
    # Two seeds per point, as in a quick sweep: the t quantile with 1 degree of freedom is 12.7.
    return pl.DataFrame(
        {
            "algorithm": ["log_loss"] * 4,
            "n": [200, 200, 400, 400],
            "seed": [0, 1, 0, 1],
            "accuracy": [0.62, 0.97, 0.05, 0.30],
            "regret": [0.01, 0.40, 0.002, 0.05],
            "mse": [0.1, 3.0, 0.05, 0.9],
            "policy_value": [-0.4, 0.7, 0.1, 0.2],
        }
    )


@pytest.mark.parametrize("metric", ["accuracy", "regret", "mse", "policy_value"])
def test_drawn_bands_respect_the_metric_range(
    metric: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = []
    original = matplotlib.axes.Axes.fill_between

    def record(self, x, y1, y2=0, **kwargs):
        drawn.append((np.asarray(y1), np.asarray(y2)))
        return original(self, x, y1, y2, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "fill_between", record)
    summary = two_seed_summary()
    plot_metric(summary, metric, tmp_path / f"{metric}.png")
    assert (tmp_path / f"{metric}.png").exists()
    low, high = METRIC_RANGES.get(metric, (-np.inf, np.inf))
    ((lows, highs),) = drawn
    assert np.all(lows >= low) and np.all(highs <= high)
    assert np.all(lows <= highs)
    # Cut, not shrunk: where the t interval stays inside the range the band is that interval.
    for position, n in enumerate([200, 400]):
        mean, half = mean_interval(summary.filter(pl.col("n") == n)[metric].to_numpy())
        assert lows[position] == max(mean - half, low)
        assert highs[position] == min(mean + half, high)


def test_the_uncut_interval_would_leave_the_range() -> None:
    """The case the cut is for: with 2 seeds the t interval of an accuracy spans below 0
    and above 1, and that of a regret below 0."""
    for metric, values in (("accuracy", [0.62, 0.97]), ("regret", [0.01, 0.40])):
        mean, half = mean_interval(np.array(values))
        low, high = METRIC_RANGES[metric]
        assert mean - half < low
        _, cut_low, cut_high = band_within_range(np.array(values), metric)
        assert (cut_low, cut_high) == (low, min(mean + half, high))
