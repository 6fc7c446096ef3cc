"""Shared start-up for workflow scripts: logging to the rule's log file, thread count, and
one clear error line on the terminal instead of a traceback wall."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any


def run_job(snakemake: Any, main: Callable[[Any], None]) -> None:
    """Run ``main(snakemake)`` with logging to ``snakemake.log[0]``.

    The full traceback goes to the log file; the terminal gets one line naming the rule, the
    error and the log path. The exit status is 1 on any error, so Snakemake removes outputs.
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers = [logging.FileHandler(log_path, mode="w")]
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    log = logging.getLogger(f"rtpref.rule.{snakemake.rule}")
    # Only jobs whose script imported torch use it; importing it here would cost the others ~2 s.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(1, int(snakemake.threads)))
    try:
        main(snakemake)
    except Exception as error:  # noqa: BLE001 - every failure must be reported the same way
        log.error("%s", "".join(traceback.format_exception(error)))
        where = f" (full traceback in {log_path})" if log_path else ""
        print(
            f"rtpref: rule {snakemake.rule} failed: {type(error).__name__}: {error}{where}",
            file=sys.stderr,
        )
        sys.exit(1)
