"""Figures: metrics vs training size per algorithm, and the DDM sampler vs its closed forms."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from scipy import stats  # noqa: E402

from rtpref import ddm  # noqa: E402
from rtpref.io import atomic_path  # noqa: E402
from rtpref.names import REFERENCE_LINES  # noqa: E402

LABELS = {
    "mse": "test MSE of r(x1) - r(x2)",
    "accuracy": "test accuracy (vs observed choice)",
    "accuracy_true": "test accuracy (vs true preference)",
    "policy_value": "policy value (mean true reward chosen)",
    "regret": "regret (best reward - chosen)",
}
STYLE = {
    "log_loss": ("tab:red", "o"),
    "nonorthogonal": ("tab:orange", "s"),
    "orthogonal": ("tab:blue", "^"),
    "orthogonal_crossfit": ("tab:green", "v"),
    "noise_free_floor": ("black", "x"),
    "orthogonal_true_nuisances": ("tab:purple", "D"),
    "known_mean_time": ("tab:gray", "P"),
}
NUISANCE_PANELS = {
    "time_rmse": "RMSE of t_hat vs true E[T|v]",
    "stage1_diff_rmse": "RMSE of stage-1 r_hat(x1) - r_hat(x2) vs v",
}


def _save(figure: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120, metadata={"Software": None})
    plt.close(figure)


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the t confidence interval (0 for a single value)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, 0.0
    half = stats.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return mean, float(half)


# The values each metric can take. A band is the t interval cut to this range: the mean lies in
# the range, so the cut interval covers it whenever the t interval does (coverage is kept), and
# with 2 seeds (t quantile 12.7) the uncut interval spilled far below 0 and above 1.
METRIC_RANGES = {
    "accuracy": (0.0, 1.0),
    "accuracy_true": (0.0, 1.0),
    "mse": (0.0, np.inf),
    "regret": (0.0, np.inf),
    "time_rmse": (0.0, np.inf),
    "stage1_diff_rmse": (0.0, np.inf),
}


def band_within_range(
    values: np.ndarray, metric: str, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean and the (low, high) ends of its t interval, cut to the range of ``metric``."""
    mean, half = mean_interval(values, level)
    # regret@k (regret_at_4, ...) is a regret: never below 0.
    key = "regret" if metric.startswith("regret_at_") else metric
    low, high = METRIC_RANGES.get(key, (-np.inf, np.inf))
    return mean, max(mean - half, low), min(mean + half, high)


def _ordered(algorithms: list[str]) -> list[str]:
    return sorted(algorithms, key=lambda name: list(STYLE).index(name) if name in STYLE else 99)


def _draw_lines(axis: plt.Axes, summary: pl.DataFrame, metric: str) -> None:
    """Mean and 95 % interval over seeds vs n, one line per algorithm with values of
    ``metric``; reference lines dashed."""
    for algorithm in _ordered(summary["algorithm"].unique().to_list()):
        rows = summary.filter((pl.col("algorithm") == algorithm) & pl.col(metric).is_not_null())
        if rows.is_empty():
            continue
        sizes = sorted(rows["n"].unique().to_list())
        points = np.array(
            [
                band_within_range(rows.filter(pl.col("n") == n)[metric].to_numpy(), metric)
                for n in sizes
            ]
        )
        means, lows, highs = points.T
        color, marker = STYLE.get(algorithm, (None, "o"))
        dashed = "--" if algorithm in REFERENCE_LINES else "-"
        axis.plot(sizes, means, dashed, color=color, marker=marker, label=algorithm)
        axis.fill_between(sizes, lows, highs, color=color, alpha=0.15)


def _size_axis(axis: plt.Axes, summary: pl.DataFrame, log_y: bool) -> None:
    axis.set_xscale("log")
    # Ticks at the sizes actually run, written out (500, 2,000, ...) rather than as powers of 10.
    all_sizes = sorted(summary["n"].unique().to_list())
    axis.set_xticks(all_sizes, [f"{n:,}" for n in all_sizes])
    axis.xaxis.set_minor_locator(ticker.NullLocator())
    if log_y:
        axis.set_yscale("log")
        plain = ticker.FuncFormatter(lambda value, _: f"{value:g}")
        axis.yaxis.set_major_formatter(plain)
        axis.yaxis.set_minor_formatter(plain)
    axis.set_xlabel("training pairs n")
    axis.grid(True, which="both", alpha=0.3)


def plot_metric(summary: pl.DataFrame, metric: str, path: str | Path, title: str = "") -> None:
    """Mean and 95 % interval over seeds vs n (log axis), one line per algorithm."""
    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    _draw_lines(axis, summary, metric)
    _size_axis(axis, summary, log_y=metric == "mse")
    axis.set_ylabel(LABELS.get(metric, metric))
    axis.set_title(title or f"{metric}: mean and 95% interval over seeds")
    axis.legend(fontsize="small")
    figure.tight_layout()
    _save(figure, path)


def plot_regret_at_k(summary: pl.DataFrame, path: str | Path) -> None:
    """regret@k vs n, one panel per k found in the summary (columns regret_at_K)."""
    columns = sorted(
        (name for name in summary.columns if name.startswith("regret_at_")),
        key=lambda name: int(name.removeprefix("regret_at_")),
    )
    if not columns:
        raise ValueError("summary has no regret_at_K columns; set evaluation.best_of")
    figure, axes = plt.subplots(1, len(columns), figsize=(6.4 * len(columns), 4.4), squeeze=False)
    for axis, column in zip(axes[0], columns, strict=True):
        k = column.removeprefix("regret_at_")
        _draw_lines(axis, summary, column)
        _size_axis(axis, summary, log_y=False)
        axis.set_ylabel(f"regret@{k} (best true reward - picked)")
        axis.set_title(f"best of {k}: mean and 95% interval over seeds")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    figure.tight_layout()
    _save(figure, path)


def plot_nuisance_error(summary: pl.DataFrame, path: str | Path) -> None:
    """Test-set RMSE of the stage-1 nuisances vs n, per learner; the RMSE of the best
    constant t_hat (one that learned nothing) as a dotted line."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for axis, (column, label) in zip(axes, NUISANCE_PANELS.items(), strict=True):
        if column in summary.columns:
            _draw_lines(axis, summary, column)
        if column == "time_rmse" and "time_rmse_constant" in summary.columns:
            constant = summary.group_by("n").agg(pl.col("time_rmse_constant").mean()).sort("n")
            axis.plot(
                constant["n"],
                constant["time_rmse_constant"],
                ":",
                color="black",
                label="best constant t_hat",
            )
        _size_axis(axis, summary, log_y=True)
        axis.set_ylabel(label)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    figure.suptitle("stage-1 nuisance error on the test set: mean and 95% interval over seeds")
    figure.tight_layout()
    _save(figure, path)


def plot_ddm_check(
    path: str | Path,
    barrier: float,
    seed: int,
    rows_per_drift: int = 20_000,
    max_drift: float = 4.0,
) -> None:
    """Simulated mean time and P(choice = +1) vs drift, over the closed forms."""
    rng = np.random.default_rng(seed)
    drifts = np.linspace(-max_drift, max_drift, 33)
    fine = np.linspace(-max_drift, max_drift, 400)
    mean_times, sems, probs = [], [], []
    for drift in drifts:
        choice, time = ddm.simulate(np.full(rows_per_drift, drift), barrier, rng)
        mean_times.append(time.mean())
        sems.append(time.std(ddof=1) / np.sqrt(rows_per_drift))
        probs.append(np.mean(choice == 1))
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(fine, ddm.mean_time(fine, barrier), color="black", label="closed form")
    left.errorbar(
        drifts,
        mean_times,
        yerr=1.96 * np.array(sems),
        fmt="o",
        ms=3,
        color="tab:blue",
        label=f"exact sampler ({rows_per_drift:,} rows/point)",
    )
    left.set_xlabel("drift v")
    left.set_ylabel("E[T | v]")
    left.legend()
    right.plot(fine, ddm.choice_prob(fine, barrier), color="black", label="sigmoid(2 a v)")
    right.plot(drifts, probs, "o", ms=3, color="tab:blue", label="exact sampler")
    right.set_xlabel("drift v")
    right.set_ylabel("P(choice = +1 | v)")
    right.legend()
    figure.suptitle(f"DDM sampler vs closed forms (barrier a = {barrier:g})")
    figure.tight_layout()
    _save(figure, path)
