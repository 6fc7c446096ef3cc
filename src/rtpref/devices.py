"""Which device a job uses: a GPU lease so that concurrent local jobs never share a GPU.

Snakemake's ``--resources gpu=2`` only caps how many GPU jobs run at once; it does not say which
GPU each job gets. On SLURM the scheduler sets CUDA_VISIBLE_DEVICES; locally we take an
exclusive ``flock`` on ``<lock_dir>/gpu{i}.lock`` and set CUDA_VISIBLE_DEVICES=i before CUDA
initialises. The kernel drops a flock when its process dies, so a killed job frees its GPU.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_LOCK_DIR = Path(".snakemake/gpu-locks")


def visible_device_count() -> int:
    """GPUs this process could use, without initialising CUDA (RTPREF_FAKE_GPUS overrides)."""
    fake = os.environ.get("RTPREF_FAKE_GPUS")
    if fake is not None:
        return int(fake)
    import torch

    # device_count() uses NVML where available and does not initialise the CUDA context.
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@contextlib.contextmanager
def gpu_lease(
    lock_dir: str | os.PathLike[str] = DEFAULT_LOCK_DIR,
    poll_seconds: float = 0.5,
    device_count: int | None = None,
) -> Iterator[str]:
    """Yield the device to use: ``"cuda"`` (one leased GPU, visible as cuda:0) or ``"cpu"``.

    An existing CUDA_VISIBLE_DEVICES (set by SLURM or the user) is respected as it is.
    """
    assigned = os.environ.get("CUDA_VISIBLE_DEVICES")
    if assigned is not None:
        count = visible_device_count() if assigned.strip() not in ("", "-1") else 0
        device = "cuda" if count > 0 else "cpu"
        log.info("CUDA_VISIBLE_DEVICES=%r already set; using %s", assigned, device)
        yield device
        return
    count = visible_device_count() if device_count is None else device_count
    if count == 0:
        log.info("no GPU visible; using CPU")
        yield "cpu"
        return
    directory = Path(lock_dir)
    directory.mkdir(parents=True, exist_ok=True)
    waited = 0.0
    while True:
        for gpu in range(count):
            handle = open(directory / f"gpu{gpu}.lock", "a+")  # noqa: SIM115 (held while leased)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
            log.info("leased GPU %d (waited %.1f s)", gpu, waited)
            try:
                yield "cuda"
            finally:
                del os.environ["CUDA_VISIBLE_DEVICES"]
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        time.sleep(poll_seconds)
        waited += poll_seconds
