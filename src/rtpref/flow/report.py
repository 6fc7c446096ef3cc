"""The flow experiment's summary table and figures."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from rtpref.flow.evaluation import METRICS  # noqa: E402
from rtpref.io import atomic_path  # noqa: E402
from rtpref.plots import STYLE, mean_interval  # noqa: E402

KEY_COLUMNS = ("learner", "method", "n", "seed")
LABELS = {
    "s_curve_fraction": "fraction of S-curves among B's samples",
    "true_reward": "true reward (mean S-curve likeness)",
    "diversity": "diversity (mean distance between samples)",
    "energy_distance_to_a": "energy distance to A",
}
CONTROL_STYLE = ("tab:gray", "D")


def read_metrics(paths: Iterable[str | Path]) -> list[dict]:
    records = []
    for path in paths:
        try:
            records.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: unreadable metrics file ({error})") from error
    return records


def collect(run_files: Iterable[str | Path], base_file: str | Path) -> pl.DataFrame:
    """One row per run, plus one row for A (learner "A", method "none", n 0, seed -1)."""
    records = read_metrics(run_files)
    if not records:
        raise ValueError("no flow run metrics to summarise")
    (base,) = read_metrics([base_file])
    records.append({"learner": "A", "method": "none", "n": 0, "seed": -1, **base})
    frame = pl.DataFrame(records, infer_schema_length=None)
    missing = [name for name in (*KEY_COLUMNS, *METRICS) if name not in frame.columns]
    if missing:
        raise ValueError(f"flow metrics records lack column(s) {missing}")
    return frame.select([*KEY_COLUMNS, *METRICS]).sort(list(KEY_COLUMNS))


def _cell(values: np.ndarray) -> str:
    mean, half = mean_interval(values)
    return f"{mean:.3f} ± {half:.3f}"


def table_markdown(summary: pl.DataFrame) -> str:
    """learner x method x budget: S-curve fraction, true reward and diversity, mean ± 95 %
    t-interval over seeds; A's row first (one evaluation, no interval)."""
    shown = ("s_curve_fraction", "true_reward", "diversity")
    lines = [
        "| learner | method | queries | seeds | " + " | ".join(shown) + " |",
        "| --- | --- | --- | --- |" + " --- |" * len(shown),
    ]
    groups = summary.group_by(["learner", "method", "n"], maintain_order=True)
    for (learner, method, n), rows in groups:
        label = "A (base)" if learner == "A" else learner
        cells = [_cell(rows[name].to_numpy()) for name in shown]
        queries = "—" if learner == "A" else str(n)
        lines.append(
            f"| {label} | {method} | {queries} | {rows.height} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def _save(figure: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120, metadata={"Software": None})
    plt.close(figure)


def plot_metric(summary: pl.DataFrame, metric: str, path: str | Path) -> None:
    """One panel per fine-tuning method: the metric vs query budget per learner (mean and
    95 % interval over seeds), with A's value as a dashed line."""
    runs = summary.filter(pl.col("learner") != "A")
    base = summary.filter(pl.col("learner") == "A")[metric].to_numpy()
    methods = runs["method"].unique(maintain_order=True).to_list()
    figure, axes = plt.subplots(1, len(methods), figsize=(5.2 * len(methods), 4.2), squeeze=False)
    sizes = sorted(runs["n"].unique().to_list())
    for axis, method in zip(axes[0], methods, strict=True):
        for learner in runs["learner"].unique(maintain_order=True).to_list():
            rows = runs.filter((pl.col("method") == method) & (pl.col("learner") == learner))
            points = [
                mean_interval(rows.filter(pl.col("n") == n)[metric].to_numpy()) for n in sizes
            ]
            means = np.array([mean for mean, _ in points])
            halves = np.array([half for _, half in points])
            color, marker = STYLE.get(learner, CONTROL_STYLE)
            axis.plot(sizes, means, "-", color=color, marker=marker, label=learner)
            axis.fill_between(sizes, means - halves, means + halves, color=color, alpha=0.15)
        if base.size:
            axis.axhline(float(base.mean()), color="black", linestyle="--", label="A (base)")
        axis.set_xscale("log")
        axis.set_xticks(sizes, [f"{n:,}" for n in sizes])
        axis.minorticks_off()
        axis.set_xlabel("preference queries")
        axis.set_ylabel(LABELS.get(metric, metric))
        axis.set_title(f"fine-tuning: {method}")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(f"{LABELS.get(metric, metric)}: mean and 95% interval over seeds")
    figure.tight_layout()
    _save(figure, path)


def plot_samples(
    shapes_by_model: Sequence[tuple[str, np.ndarray]], path: str | Path, points: int
) -> None:
    """One row of shapes per model (A first), drawn as paths; all rows from the same noise."""
    columns = len(shapes_by_model[0][1])
    figure, axes = plt.subplots(
        len(shapes_by_model),
        columns,
        figsize=(1.3 * columns, 1.5 * len(shapes_by_model)),
        squeeze=False,
    )
    for row, (label, shapes) in enumerate(shapes_by_model):
        for column, shape in enumerate(shapes):
            axis = axes[row, column]
            xy = shape.reshape(points, 2)
            axis.plot(xy[:, 0], xy[:, 1], "-", color="tab:blue", linewidth=1)
            axis.plot(xy[0, 0], xy[0, 1], "o", color="tab:red", markersize=2)
            axis.set_aspect("equal")
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=7)
    figure.suptitle("samples from the same noise: A (top) and fine-tuned B")
    figure.tight_layout()
    _save(figure, path)
