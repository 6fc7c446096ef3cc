"""Peer rows of the "ddm" stage: the exact sampler (`rtpref.ddm.simulate`) side by side with
ssm-simulators' `ddm` model (Euler steps in Cython, the simulator behind HSSM), in one run.

- Throughput on the same inputs: one drift per row (theirs: one parameter row per trial,
  `n_samples=1`), and one drift for many rows (theirs: one parameter row, `n_samples=N`); the
  ratio is ours / theirs.
- E[T] bias of theirs at v = 0.5, a = 1 against the closed form: the check that both sample the
  same process (a wrong mapping of `a` would be off by -75 % or +300 %, not a few per cent).
- Accuracy: the Kolmogorov-Smirnov distance D between each sampler's first-passage times, both
  barriers pooled (with a start midway, T does not depend on the barrier hit), and the analytic
  CDF of `perf.fpt`, at several (v, a); the ratio is D over the 5 % critical value
  1.358 / sqrt(n) for the n on the row, so a ratio above 1 rejects the sampler at 5 %.

Parameter mapping (read from ssm-simulators 0.12.5's source, `cssm.ddm_flexbound` with the
constant boundary, which its `ddm` model uses): the walk starts at -a + 2 a z between barriers
-a and +a, so our barrier a is its `a`, z = 0.5 is our start at 0, t = 0 removes the
non-decision time, and its noise s defaults to 1 as ours. Its other defaults are kept (dt =
1e-3, max_t = 20, uniform smoothing of the time within a step); `return_option="minimal"` fails
in 0.12.5, so the default full output is timed. A walk still inside at max_t is an omission
(-999) and counts as T = inf.

If ssm-simulators cannot be imported or its simulator raises, its rows say "unavailable:
<reason>" and the bench goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from perf.common import best_of, row
from perf.fpt import first_passage_cdf

PEER = "ssm-simulators"
# (drift v, barrier a): no drift, moderate, large a (long walks), small a with large drift.
KS_CASES = ((0.0, 1.0), (0.5, 1.0), (1.0, 1.5), (2.0, 0.5))
KS_ROWS = 100_000
PER_ROW_ROWS = 20_000
SHARED_DRIFT, SHARED_ROWS = 0.5, 100_000


class PeerFailed(RuntimeError):
    """The peer imported but its simulator raised; the message is the rows' value."""


def load_peer() -> tuple[Callable | None, str]:
    """ssm-simulators' `simulator` and a label with its version, or None and why not."""
    try:
        from importlib.metadata import version

        from ssms.basic_simulators.simulator import simulator
    except Exception as error:  # any failure (missing, broken build) only disables its rows
        return None, f"unavailable: {type(error).__name__}: {error}"[:200]
    return simulator, f"{PEER} {version('ssm-simulators')}"


def peer_times(
    simulator: Callable, drift: float | np.ndarray, barrier: float, rows: int, seed: int
) -> np.ndarray:
    """First-passage times from ssm-simulators' `ddm` for our process (see the module docstring).

    An array ``drift`` gives one trial per drift (``rows`` must equal its size); a scalar gives
    ``rows`` samples of one trial."""
    per_row = np.ndim(drift) > 0
    trials = rows if per_row else 1
    theta = {
        "v": np.asarray(drift, dtype=np.float64).reshape(trials),
        "a": np.full(trials, barrier),
        "z": np.full(trials, 0.5),
        "t": np.zeros(trials),
    }
    try:
        out = simulator(
            theta=theta, model="ddm", n_samples=1 if per_row else rows, random_state=seed
        )
    except Exception as error:  # a peer release that changed its API only disables its rows
        raise PeerFailed(f"unavailable: {PEER} failed: {type(error).__name__}: {error}") from error
    times = np.asarray(out["rts"], dtype=np.float64).ravel()
    return np.where(times < 0, np.inf, times)


def ks_distance(times: np.ndarray, drift: float, barrier: float) -> float:
    """Kolmogorov-Smirnov distance between the sample's empirical CDF and the analytic one."""
    from scipy.stats import kstest

    return float(kstest(times, lambda t: first_passage_cdf(t, drift, barrier)).statistic)


def throughput_rows(simulator: Callable | None, reason: str) -> list[dict]:
    """Rows per row and for one shared drift: theirs, ours with the ratio ours / theirs, and the
    peer's E[T] bias; without the peer, its rows carry ``reason`` and ours no ratio."""
    from rtpref import ddm

    drift = np.random.default_rng(3).normal(0.0, 1.0, PER_ROW_ROWS)
    shared = np.full(SHARED_ROWS, SHARED_DRIFT)
    ours = PER_ROW_ROWS / best_of(lambda: ddm.simulate(drift, 1.0, np.random.default_rng(5)))
    shared_ours = SHARED_ROWS / best_of(lambda: ddm.simulate(shared, 1.0, np.random.default_rng(7)))
    theirs_names = [
        f"ddm peer: {PEER} ddm, one drift per row",
        f"ddm peer: {PEER} ddm, one drift x {SHARED_ROWS:,} rows",
        f"ddm peer: {PEER} bias in E[T] (v={SHARED_DRIFT})",
    ]
    ours_names = [
        "ddm peer: exact sampler, one drift per row",
        f"ddm peer: exact sampler, one drift x {SHARED_ROWS:,} rows",
    ]
    if simulator is None:
        theirs_rows = [row(name, reason, "") for name in theirs_names]
        return [
            theirs_rows[0],
            row(ours_names[0], ours, "rows/s"),
            theirs_rows[1],
            row(ours_names[1], shared_ours, "rows/s"),
            theirs_rows[2],
        ]
    theirs = PER_ROW_ROWS / best_of(
        lambda: peer_times(simulator, drift, 1.0, PER_ROW_ROWS, seed=4), repeats=2
    )
    shared_times: list[np.ndarray] = []
    shared_theirs = SHARED_ROWS / best_of(
        lambda: shared_times.append(peer_times(simulator, SHARED_DRIFT, 1.0, SHARED_ROWS, 6)),
        repeats=1,
    )
    expected = float(ddm.mean_time(SHARED_DRIFT))
    standard_error = float(np.sqrt(ddm.var_time(SHARED_DRIFT) / SHARED_ROWS)) / expected
    bias = shared_times[0].mean() / expected - 1
    return [
        row(theirs_names[0], theirs, "rows/s"),
        row(ours_names[0], ours, "rows/s", ours / theirs, "ours/peer"),
        row(theirs_names[1], shared_theirs, "rows/s"),
        row(ours_names[1], shared_ours, "rows/s", shared_ours / shared_theirs, "ours/peer"),
        row(theirs_names[2], 100 * bias, "%", bias / standard_error, "(z)"),
    ]


def accuracy_rows(simulator: Callable | None, reason: str) -> list[dict]:
    """KS rows for ours and (if available) the peer, at each (v, a) of KS_CASES."""
    from rtpref import ddm

    critical = 1.358 / np.sqrt(KS_ROWS)
    target = f"< {critical:.2g}"
    results = []
    for case, (v, a) in enumerate(KS_CASES):
        _, ours = ddm.simulate(np.full(KS_ROWS, v), a, np.random.default_rng(100 + case))
        distance = ks_distance(ours, v, a)
        results.append(
            row(
                f"ddm KS v={v:g} a={a:g} n={KS_ROWS:,}: exact sampler",
                distance,
                "D",
                distance / critical,
                target,
                distance < critical,
            )
        )
        name = f"ddm KS v={v:g} a={a:g} n={KS_ROWS:,}: {PEER}"
        if simulator is None:
            results.append(row(name, reason, ""))
            continue
        distance = ks_distance(peer_times(simulator, v, a, KS_ROWS, 200 + case), v, a)
        results.append(row(name, distance, "D", distance / critical, target))
    return results


def peer_rows() -> list[dict]:
    """All peer rows; the peer's own rows say why when it cannot be imported or fails."""
    simulator, label = load_peer()
    print(f"[bench] peer: {label}", file=sys.stderr, flush=True)
    if simulator is not None:
        try:
            return throughput_rows(simulator, label) + accuracy_rows(simulator, label)
        except PeerFailed as failure:
            simulator, label = None, str(failure)[:200]
    return throughput_rows(None, label) + accuracy_rows(None, label)
