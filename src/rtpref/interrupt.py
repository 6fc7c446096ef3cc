"""A true last word when Snakemake is stopped with SIGTERM (`kill <pid>`, a job scheduler's
time limit, a shutdown).

On SIGTERM Snakemake starts no new job, lets the running ones finish, then fails the whole run
with "At least one job did not complete successfully", also when every job that ran succeeded.
``watch_sigterm`` (called from ``onstart:``, after Snakemake installed its own handler) records
that the signal came and passes it on; ``sigterm_summary`` (from ``onerror:``) then says what
happened, and the workflow exits with status 143 (128 + SIGTERM) instead.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sized

_received = threading.Event()
SIGTERM_EXIT_STATUS = 128 + signal.SIGTERM


def watch_sigterm() -> None:
    """Record a SIGTERM, then hand it to the handler that was installed before (Snakemake's)."""
    previous = signal.getsignal(signal.SIGTERM)

    def record(signum: int, frame: object) -> None:
        _received.set()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, record)


def sigterm_received() -> bool:
    return _received.is_set()


def sigterm_summary(failed: Sized, not_started: Sized) -> str:
    """What a run stopped by SIGTERM did, for jobs that failed and jobs never started."""
    if len(failed):
        done = (
            f"{len(failed)} running job(s) did not finish (stopped by the signal too, or failed: "
            "see above) and their outputs were removed"
        )
    else:
        done = "every job that was running finished and was kept"
    return (
        f"rtpref: stopped by SIGTERM: {done}; {len(not_started)} job(s) were not started. "
        "Run the same command again to finish (add --rerun-incomplete if Snakemake asks)."
    )
