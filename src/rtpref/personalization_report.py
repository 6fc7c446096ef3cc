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

# Tick marks of the log-scale barrier panels (barriers are log-normal around a).
BARRIER_TICKS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
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
            if variant.startswith("personalized_user"):
                # What assuming one barrier (and one t0) costs the same personalized learner.
                one = {
                    r["seed"]: r
                    for r in records
                    if (r["algorithm"], r["variant"]) == (algorithm, "personalized")
                }
                paired = [r[metric] - one[r["seed"]][metric] for r in rows if metric in r]
                entry[f"{metric}_minus_personalized"] = _interval(paired)
        for key, prefix, corr_name, transform in (
            ("barrier_estimates", "barrier", "barrier_log_corr", np.log),
            ("non_decision_estimates", "non_decision", "non_decision_corr", np.asarray),
        ):
            estimates = [r[key] for r in rows if key in r]
            if estimates:
                entry.update(_estimate_correlation(estimates, prefix, corr_name, transform))
        table.append(entry)
    return {"table": table, "barrier_min_pairs": BARRIER_MIN_PAIRS}


def _estimate_correlation(
    estimates: list[dict[str, list]], prefix: str, corr_name: str, transform
) -> dict:
    """corr(transform(estimate), transform(truth)) over users with at least
    ``BARRIER_MIN_PAIRS`` training pairs, pooled over seeds (None if undefined)."""
    estimate = np.concatenate([e["estimate"] for e in estimates])
    truth = np.concatenate([e["truth"] for e in estimates])
    enough = np.concatenate([e["pairs"] for e in estimates]) >= BARRIER_MIN_PAIRS
    defined = enough.sum() > 2 and np.ptp(truth[enough]) > 0 and np.ptp(estimate[enough]) > 0
    return {
        f"{prefix}_users": int(enough.sum()),
        corr_name: float(np.corrcoef(transform(estimate[enough]), transform(truth[enough]))[0, 1])
        if defined
        else None,
    }


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
        "unseen mse − global | seen mse − personalized | corr(log a_u) | corr(t0_u) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in summary["table"]:
        corrs = [entry.get("barrier_log_corr"), entry.get("non_decision_corr")]
        lines.append(
            f"| {entry['algorithm']} | {entry['variant']} | {cell(entry, 'seen_mse')} | "
            f"{cell(entry, 'unseen_mse')} | {cell(entry, 'seen_mse_minus_global')} | "
            f"{cell(entry, 'unseen_mse_minus_global')} | "
            f"{cell(entry, 'seen_mse_minus_personalized')} | "
            + " | ".join("" if corr is None else f"{corr:.3f}" for corr in corrs)
            + " |"
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
        style = {"global": "--", "personalized_user_barriers": ":"}.get(variant, "-")
        style = "-." if variant == "personalized_user_ddm" else style
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
    """Estimated vs true per-user barrier (log-log), one panel per (learner, variant) with
    per-user barriers, and below it the non-decision times where they were estimated."""
    keys = sorted({(r["algorithm"], r["variant"]) for r in records if "barrier_estimates" in r})
    with_t0 = any("non_decision_estimates" in r for r in records)
    panels = keys or [("(none)", "")]
    fig, axes = plt.subplots(
        2 if with_t0 else 1,
        len(panels),
        figsize=(4 * len(panels), 8 if with_t0 else 4),
        squeeze=False,
    )
    for column, (algorithm, variant) in enumerate(panels):
        rows = [r for r in records if (r["algorithm"], r["variant"]) == (algorithm, variant)]
        for row, (key, what) in enumerate(
            [("barrier_estimates", "barrier a_u"), ("non_decision_estimates", "t0_u (s)")][
                : axes.shape[0]
            ]
        ):
            ax = axes[row, column]
            found = [r[key] for r in rows if key in r]
            for estimate in found:
                sizes = 8 + 0.05 * np.asarray(estimate["pairs"])
                ax.scatter(estimate["truth"], estimate["estimate"], s=sizes, alpha=0.6)
            if not found:
                ax.text(0.5, 0.5, f"no per-user {what}", ha="center", transform=ax.transAxes)
            else:
                ax.axline((1, 1) if row == 0 else (0, 0), slope=1, color="black", lw=0.8)
            if row == 0:
                ax.set_xscale("log")
                ax.set_yscale("log")
                for axis in (ax.xaxis, ax.yaxis):
                    axis.set_major_locator(ticker.FixedLocator(BARRIER_TICKS))
                    axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
                    axis.set_minor_formatter(ticker.NullFormatter())
            ax.set_title(f"{algorithm} {variant}".strip(), fontsize=9)
            ax.set_xlabel(f"true {what}")
            ax.set_ylabel(f"estimated {what} (marker size ~ pairs)")
    _save(fig, output)


def _save(fig, output: str | Path) -> None:
    fig.tight_layout()
    with atomic_path(output) as temporary:
        fig.savefig(temporary, format="png", dpi=120)
    plt.close(fig)
