"""The benchmark package's own logic: the analytic first-passage-time CDF the accuracy rows
test against, the KS distance, the peer's parameter mapping, and rows for a missing peer."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from perf import ddm_peers
from perf.fpt import cdf_large_time, cdf_small_time, first_passage_cdf
from perf.run import print_table
from rtpref import ddm

CASES = [(0.0, 1.0), (0.5, 1.0), (-1.0, 1.5), (2.0, 0.5), (4.0, 2.0)]


@pytest.mark.parametrize(("drift", "barrier"), CASES)
def test_both_series_agree_where_both_converge(drift, barrier):
    times = np.linspace(0.1, 3.0, 40) * barrier**2
    np.testing.assert_allclose(
        cdf_small_time(times, drift, barrier), cdf_large_time(times, drift, barrier), atol=1e-10
    )


@pytest.mark.parametrize(("drift", "barrier"), CASES)
def test_cdf_moments_match_the_closed_forms(drift, barrier):
    def survival(t):
        return 1.0 - first_passage_cdf(t, drift, barrier)

    mean, _ = integrate.quad(survival, 0, np.inf, limit=200)
    second, _ = integrate.quad(lambda t: 2 * t * survival(t), 0, np.inf, limit=200)
    assert mean == pytest.approx(float(ddm.mean_time(drift, barrier)), rel=1e-7)
    assert second - mean**2 == pytest.approx(float(ddm.var_time(drift, barrier)), rel=1e-6)


def test_ks_distance_accepts_the_exact_sampler_and_rejects_a_wrong_barrier():
    rows = 20_000
    critical = 1.358 / np.sqrt(rows)
    _, times = ddm.simulate(np.full(rows, 0.5), 1.0, np.random.default_rng(0))
    assert ddm_peers.ks_distance(times, 0.5, 1.0) < critical
    assert ddm_peers.ks_distance(times, 0.5, 1.1) > critical


def test_missing_peer_rows_say_why_and_the_table_prints(monkeypatch, capsys):
    reason = "unavailable: ModuleNotFoundError: No module named 'ssms'"
    monkeypatch.setattr(ddm_peers, "load_peer", lambda: (None, reason))
    monkeypatch.setattr(ddm_peers, "KS_ROWS", 2_000)
    rows = ddm_peers.peer_rows()
    peer = [row for row in rows if ddm_peers.PEER in row["name"]]
    ours = [row for row in rows if ddm_peers.PEER not in row["name"]]
    assert peer and all(row["value"] == reason for row in peer)
    # Our own throughput and accuracy rows are still measured, without a ratio to the peer.
    assert len(ours) == 2 + len(ddm_peers.KS_CASES)
    assert all(isinstance(row["value"], float) for row in ours)
    assert all(row["ratio"] is None for row in ours if row["unit"] == "rows/s")
    print_table(rows)
    assert reason in capsys.readouterr().out


@pytest.mark.parametrize(("drift", "barrier"), [(0.0, 1.0), (1.0, 0.5)])
def test_peer_samples_our_process(drift, barrier):
    """ssm-simulators' `a` is the barrier height: its mean time matches ours up to Euler bias
    (a mapping to the separation would be off by a factor of about 4)."""
    pytest.importorskip("ssms")
    simulator, _ = ddm_peers.load_peer()
    times = ddm_peers.peer_times(simulator, drift, barrier, 4_000, seed=0)
    assert times.mean() == pytest.approx(float(ddm.mean_time(drift, barrier)), rel=0.1)
