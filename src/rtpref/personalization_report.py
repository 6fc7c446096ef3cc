"""Summary table and figures of the personalization experiment (``rtpref.personalization``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from rtpref.io import atomic_path  # noqa: E402

# Users need at least this many training pairs to enter the barrier correlation.
BARRIER_MIN_PAIRS = 200


def _interval(values: list[float]) -> dict[str, float | None]:
    """Mean and 95 % t-interval half-width over seeds (None with a single seed)."""
    array = np.asarray(values, np.float64)
    half = None
    if array.size > 1:
        half = float(stats.t.ppf(0.975, array.size - 1) * array.std(ddof=1) / np.sqrt(array.size))
    return {"mean": float(array.mean()), "half_width": half}


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (algorithm, variant): seen and unseen mse and accuracy over seeds; per
    algorithm, the paired difference of each variant to the global model; per variant with
    per-user barriers, corr(log a_u estimate, log a_u truth) over users with at least
    ``BARRIER_MIN_PAIRS`` training pairs (pooled over seeds)."""
    table = []
    keys = sorted({(r["algorithm"], r["variant"]) for r in records})
    for algorithm, variant in keys:
        rows = [r for r in records if (r["algorithm"], r["variant"]) == (algorithm, variant)]
        global_rows = {
            r["seed"]: r for r in records if (r["algorithm"], r["variant"]) == (algorithm, "global")
        }
        entry: dict[str, Any] = {"algorithm": algorithm, "variant": variant, "seeds": len(rows)}
        for metric in ("seen_mse", "unseen_mse", "seen_accuracy_true", "unseen_accuracy_true"):
            present = [r[metric] for r in rows if metric in r]
            if not present:
                continue
            entry[metric] = _interval(present)
            paired = [r[metric] - global_rows[r["seed"]][metric] for r in rows if metric in r]
            if variant != "global":
                entry[f"{metric}_minus_global"] = _interval(paired)
        estimates = [r["barrier_estimates"] for r in rows if "barrier_estimates" in r]
        if estimates:
            estimate = np.concatenate([e["estimate"] for e in estimates])
            truth = np.concatenate([e["truth"] for e in estimates])
            pairs = np.concatenate([e["pairs"] for e in estimates])
            enough = pairs >= BARRIER_MIN_PAIRS
            entry["barrier_users"] = int(enough.sum())
            entry["barrier_log_corr"] = (
                float(np.corrcoef(np.log(estimate[enough]), np.log(truth[enough]))[0, 1])
                if enough.sum() > 2 and np.std(truth[enough]) > 0
                else None
            )
        table.append(entry)
    return {"table": table, "barrier_min_pairs": BARRIER_MIN_PAIRS}


def markdown_table(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table (mean ± 95 % half-width over seeds)."""

    def cell(entry: dict[str, Any], key: str) -> str:
        value = entry.get(key)
        if value is None:
            return ""
        half = value["half_width"]
        return f"{value['mean']:.3g}" + ("" if half is None else f" ± {half:.2g}")

    lines = [
        "| algorithm | variant | seen mse | unseen mse | seen mse − global | "
        "unseen mse − global | corr(log a_u) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in summary["table"]:
        corr = entry.get("barrier_log_corr")
        lines.append(
            f"| {entry['algorithm']} | {entry['variant']} | {cell(entry, 'seen_mse')} | "
            f"{cell(entry, 'unseen_mse')} | {cell(entry, 'seen_mse_minus_global')} | "
            f"{cell(entry, 'unseen_mse_minus_global')} | "
            f"{'' if corr is None else f'{corr:.3f}'} |"
        )
    return "\n".join(lines) + "\n"


def plot_mse_vs_user_pairs(records: list[dict[str, Any]], output: str | Path) -> None:
    """Seen-user test mse against the user's training pairs (log-spaced bins), one line per
    (algorithm, variant), pooled over seeds."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    keys = sorted({(r["algorithm"], r["variant"]) for r in records if "seen_user_errors" in r})
    all_pairs = np.concatenate(
        [r["seen_user_errors"]["train_pairs"] for r in records if "seen_user_errors" in r]
    )
    edges = np.unique(np.geomspace(1, max(all_pairs.max(), 2) + 1, 8).round())
    for algorithm, variant in keys:
        rows = [r for r in records if (r["algorithm"], r["variant"]) == (algorithm, variant)]
        pairs = np.concatenate([r["seen_user_errors"]["train_pairs"] for r in rows])
        mse = np.concatenate([r["seen_user_errors"]["mse"] for r in rows])
        bins = np.digitize(pairs, edges)
        centres, means = [], []
        for b in np.unique(bins):
            inside = bins == b
            centres.append(np.exp(np.log(np.maximum(pairs[inside], 1)).mean()))
            means.append(mse[inside].mean())
        style = "--" if variant == "global" else ":" if variant.endswith("barriers") else "-"
        ax.plot(centres, means, style, marker="o", label=f"{algorithm} {variant}")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("training pairs of the user")
    ax.set_ylabel("test MSE vs the user's own r_u(x1) - r_u(x2)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, output)


def plot_barrier_estimates(records: list[dict[str, Any]], output: str | Path) -> None:
    """Estimated vs true per-user barrier (log-log), one panel per learner."""
    rows = [r for r in records if "barrier_estimates" in r]
    algorithms = sorted({r["algorithm"] for r in rows}) or ["(none)"]
    fig, axes = plt.subplots(1, len(algorithms), figsize=(4 * len(algorithms), 4), squeeze=False)
    for ax, algorithm in zip(axes[0], algorithms, strict=True):
        for r in (r for r in rows if r["algorithm"] == algorithm):
            b = r["barrier_estimates"]
            ax.scatter(b["truth"], b["estimate"], s=8 + 0.05 * np.asarray(b["pairs"]), alpha=0.6)
        if not rows:
            ax.text(0.5, 0.5, "no per-user barriers fitted", ha="center", transform=ax.transAxes)
        ax.axline((1, 1), slope=1, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(algorithm)
        ax.set_xlabel("true barrier a_u")
        ax.set_ylabel("estimated a_u (marker size ~ pairs)")
    _save(fig, output)


def _save(fig, output: str | Path) -> None:
    fig.tight_layout()
    with atomic_path(output) as temporary:
        fig.savefig(temporary, format="png", dpi=120)
    plt.close(fig)
