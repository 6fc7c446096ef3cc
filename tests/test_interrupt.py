"""The SIGTERM watcher records the signal and still hands it to Snakemake's own handler."""

from __future__ import annotations

import signal

import pytest

from rtpref import interrupt


def test_sigterm_is_recorded_and_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interrupt, "_received", type(interrupt._received)())
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        interrupt.watch_sigterm()
        assert not interrupt.sigterm_received()
        signal.raise_signal(signal.SIGTERM)
        assert interrupt.sigterm_received()
        assert calls == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_summary_says_what_finished_and_what_did_not_start() -> None:
    clean = interrupt.sigterm_summary(failed=[], not_started=["train", "summary"])
    assert "every job that was running finished and was kept; 2 job(s) were not started" in clean
    assert "Run the same command again" in clean
    killed = interrupt.sigterm_summary(failed=["train"], not_started=[])
    assert "1 running job(s) did not finish" in killed and "outputs were removed" in killed
