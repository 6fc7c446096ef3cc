"""Stage "ddm": the exact sampler (`rtpref.ddm.simulate`) vs the per-row Euler loop of the
reference code — throughput, and bias in E[T] against the closed form — followed by the peer
rows of `perf.ddm_peers` (ssm-simulators: throughput and Kolmogorov-Smirnov accuracy)."""

from __future__ import annotations

import numpy as np

from perf.common import best_of, row
from perf.ddm_peers import peer_rows
from perf.reference import euler_per_row, euler_vectorised


def bench_ddm() -> list[dict]:
    from rtpref import ddm

    rng = np.random.default_rng(0)
    drift = rng.normal(0.0, 1.0, 1_000_000)
    ddm.simulate(drift, 1.0, rng)  # warm-up: page faults of the first large allocation
    exact_seconds = best_of(lambda: ddm.simulate(drift, 1.0, rng))
    sample = drift[:400]
    euler_seconds = best_of(lambda: euler_per_row(sample, 1.0, 1e-3), repeats=1)
    exact_rate = drift.size / exact_seconds
    euler_rate = sample.size / euler_seconds
    speedup = exact_rate / euler_rate

    # Bias in E[T] at one drift: both samplers on the same number of rows, vs the closed form.
    rows, v = 100_000, 0.5
    expected = float(ddm.mean_time(v))
    _, euler_time = euler_vectorised(np.full(rows, v), 1.0, 1e-3, seed=1)
    _, exact_time = ddm.simulate(np.full(rows, v), 1.0, np.random.default_rng(2))
    standard_error = float(np.sqrt(ddm.var_time(v) / rows)) / expected
    euler_bias = euler_time.mean() / expected - 1
    exact_bias = exact_time.mean() / expected - 1
    own = [
        row(
            "ddm: exact sampler, 1M rows (one core)",
            exact_rate,
            "rows/s",
            None,
            ">= 1e6",
            exact_rate >= 1e6,
        ),
        row("ddm: per-row Euler loop dt=1e-3 (reference)", euler_rate, "rows/s"),
        row("ddm: exact vs Euler loop, per row", speedup, "x", speedup, ">= 1000", speedup >= 1000),
        row(
            "ddm: Euler dt=1e-3 bias in E[T] (v=0.5)",
            100 * euler_bias,
            "%",
            euler_bias / standard_error,
            "(z)",
        ),
        row(
            "ddm: exact sampler bias in E[T] (v=0.5)",
            100 * exact_bias,
            "%",
            exact_bias / standard_error,
            "|z| < 4",
            abs(exact_bias / standard_error) < 4,
        ),
    ]
    return own + peer_rows()
