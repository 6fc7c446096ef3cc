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
    "oracle": ("black", "x"),
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


def plot_metric(summary: pl.DataFrame, metric: str, path: str | Path, title: str = "") -> None:
    """Mean and 95 % interval over seeds vs n (log axis), one line per algorithm."""
    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    _draw_metric(axis, summary, metric, title)
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
        _draw_metric(axis, summary, column, f"best of {k}: mean and 95% interval over seeds")
        axis.set_ylabel(f"regret@{k} (best true reward - picked)")
    figure.tight_layout()
    _save(figure, path)


def _draw_metric(axis: plt.Axes, summary: pl.DataFrame, metric: str, title: str) -> None:
    for algorithm in sorted(
        summary["algorithm"].unique().to_list(),
        key=lambda name: list(STYLE).index(name) if name in STYLE else 99,
    ):
        rows = summary.filter(pl.col("algorithm") == algorithm)
        sizes = sorted(rows["n"].unique().to_list())
        points = [mean_interval(rows.filter(pl.col("n") == n)[metric].to_numpy()) for n in sizes]
        means = np.array([mean for mean, _ in points])
        halves = np.array([half for _, half in points])
        color, marker = STYLE.get(algorithm, (None, "o"))
        dashed = "--" if algorithm == "oracle" else "-"
        axis.plot(sizes, means, dashed, color=color, marker=marker, label=algorithm)
        axis.fill_between(sizes, means - halves, means + halves, color=color, alpha=0.15)
    axis.set_xscale("log")
    # Ticks at the sizes actually run, written out (500, 2,000, ...) rather than as powers of 10.
    all_sizes = sorted(summary["n"].unique().to_list())
    axis.set_xticks(all_sizes, [f"{n:,}" for n in all_sizes])
    axis.xaxis.set_minor_locator(ticker.NullLocator())
    if metric == "mse":
        axis.set_yscale("log")
        plain = ticker.FuncFormatter(lambda value, _: f"{value:g}")
        axis.yaxis.set_major_formatter(plain)
        axis.yaxis.set_minor_formatter(plain)
    axis.set_xlabel("training pairs n")
    axis.set_ylabel(LABELS.get(metric, metric))
    axis.set_title(title or f"{metric}: mean and 95% interval over seeds")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()


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
