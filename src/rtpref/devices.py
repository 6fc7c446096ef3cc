"""Which device a job uses: a GPU lease so that concurrent local jobs never share a GPU.

Snakemake's ``--resources gpu=2`` only caps how many GPU jobs run at once; it does not say which
GPU each job gets. So each job leases one:

- If CUDA_VISIBLE_DEVICES is already set (SLURM sets it for a ``--gpus=1`` job, or the user did),
  it is respected as it is: no lock is taken, nothing is changed.
- Otherwise the job takes an exclusive, non-blocking ``flock`` on ``<lock_dir>/gpu{i}.lock`` for
  the first free i < number of GPUs, sets CUDA_VISIBLE_DEVICES=i (so the GPU is ``cuda:0`` inside
  the job) and waits, polling, while all GPUs are taken. The kernel drops a flock when its
  process dies, so a killed job (even SIGKILL) frees its GPU; no stale lock files to clean up.
- With no GPU the job runs on the CPU.

CUDA reads CUDA_VISIBLE_DEVICES once, when the driver initialises (``cuInit``). Counting GPUs
must therefore not initialise CUDA in this process: ``torch.cuda.is_available()`` calls
``cudaGetDeviceCount`` and would do exactly that, after which the variable is ignored and every
job would land on physical GPU 0. GPUs are counted through NVML (which does not touch CUDA), or
in a child process where NVML is missing. The lease refuses to start if torch has already
initialised CUDA in this process.

The lock directory is resolved against the current working directory when the lease is taken.
Snakemake runs every job in the workflow's working directory (the one given by ``--directory``,
else where Snakemake was started), so all jobs of one workflow share ``.snakemake/gpu-locks``.
Several workflows (different working directories) on one GPU box must share a lock directory to
exclude each other: point RTPREF_GPU_LOCK_DIR at one absolute path (on a local file system) for
all of them.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_LOCK_DIR = Path(".snakemake/gpu-locks")
LOCK_DIR_ENV = "RTPREF_GPU_LOCK_DIR"
# Tests only: pretend this many GPUs exist (the lease then hands out ids without a real GPU).
FAKE_GPUS_ENV = "RTPREF_FAKE_GPUS"
# How often a waiting lease says that it is still waiting.
_WAIT_REPORT_SECONDS = 60.0
_CHILD_COUNT_TIMEOUT_SECONDS = 120.0


class GpuLeaseError(RuntimeError):
    """The lease cannot work as intended (bad arguments, or CUDA initialised too early)."""


def _fake_gpu_count() -> int | None:
    fake = os.environ.get(FAKE_GPUS_ENV)
    if fake is None:
        return None
    try:
        count = int(fake)
    except ValueError:
        raise GpuLeaseError(f"{FAKE_GPUS_ENV}={fake!r} is not a whole number") from None
    if count < 0:
        raise GpuLeaseError(f"{FAKE_GPUS_ENV}={fake!r} must be >= 0")
    return count


def _nvml_device_count() -> int | None:
    """GPUs NVML sees (ignores CUDA_VISIBLE_DEVICES), or None when NVML is unavailable."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None
    count = ctypes.c_uint(0)
    if nvml.nvmlInit_v2() != 0:
        return None
    try:
        if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
            return None
        return int(count.value)
    finally:
        nvml.nvmlShutdown()


def _cuda_driver_present() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def _count_in_child() -> int:
    """Ask a child Python for torch.cuda.device_count(); CUDA initialises there, not here."""
    environment = {
        name: value for name, value in os.environ.items() if name != "CUDA_VISIBLE_DEVICES"
    }
    code = "import torch; print(torch.cuda.device_count())"
    try:
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=environment,
            timeout=_CHILD_COUNT_TIMEOUT_SECONDS,
            check=True,
        )
        return int(result.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError, OSError) as error:
        log.warning("could not count GPUs in a child process (%s); using the CPU", error)
        return 0


def visible_device_count() -> int:
    """GPUs on this machine, counted without initialising CUDA in this process.

    RTPREF_FAKE_GPUS overrides the count (tests only). CUDA_VISIBLE_DEVICES is not applied here:
    the count is of physical devices, the ids the lease hands out.
    """
    fake = _fake_gpu_count()
    if fake is not None:
        return fake
    import torch  # importing torch does not initialise CUDA

    if not torch.backends.cuda.is_built():
        return 0
    if torch.version.hip is None:
        count = _nvml_device_count()
        if count is not None:
            return count
        if not _cuda_driver_present():
            return 0
    return _count_in_child()


def _check_cuda_not_initialised() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise GpuLeaseError(
            "CUDA was initialised before the GPU lease was taken, so setting "
            "CUDA_VISIBLE_DEVICES would have no effect; take the lease (`with gpu_lease() as "
            "device:`) before any CUDA call"
        )


def resolve_lock_dir(lock_dir: str | os.PathLike[str] | None = None) -> Path:
    """The absolute lock directory: ``lock_dir``, else RTPREF_GPU_LOCK_DIR, else the default.

    Relative paths are taken relative to the current working directory.
    """
    if lock_dir is None:
        lock_dir = os.environ.get(LOCK_DIR_ENV) or DEFAULT_LOCK_DIR
    return Path(lock_dir).absolute()


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on ``path``, or None if another process holds it."""
    writable = True
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except PermissionError:
        # Another user's lock file in a shared lock dir: flock needs no write access.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        writable = False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    if writable:
        # Who holds it, for a person looking at a waiting job; the flock is the lease.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    return fd


def _holders(directory: Path, count: int) -> str:
    described = []
    for gpu in range(count):
        try:
            text = (directory / f"gpu{gpu}.lock").read_text().strip()
        except OSError:
            text = ""
        described.append(f"gpu{gpu}: {text or '?'}")
    return "; ".join(described)


@contextlib.contextmanager
def gpu_lease(
    lock_dir: str | os.PathLike[str] | None = None,
    poll_seconds: float = 0.5,
    device_count: int | None = None,
) -> Iterator[str]:
    """Yield the device to use: ``"cuda"`` (one leased GPU, visible as cuda:0) or ``"cpu"``.

    Take the lease before any CUDA call. An existing CUDA_VISIBLE_DEVICES (set by SLURM or the
    user) is respected as it is. ``device_count`` overrides the number of GPUs (default: counted
    without initialising CUDA). ``lock_dir`` defaults to RTPREF_GPU_LOCK_DIR, else
    ``.snakemake/gpu-locks``; a relative path is resolved against the current directory.
    While every GPU is leased the call waits, checking every ``poll_seconds``.
    """
    if poll_seconds <= 0:
        raise GpuLeaseError(f"poll_seconds must be > 0, got {poll_seconds!r}")
    if device_count is not None and device_count < 0:
        raise GpuLeaseError(f"device_count must be >= 0, got {device_count!r}")

    assigned = os.environ.get("CUDA_VISIBLE_DEVICES")
    if assigned is not None:
        # "" and "-1" hide every GPU on purpose.
        hidden = assigned.strip() in ("", "-1")
        count = 0 if hidden else (visible_device_count() if device_count is None else device_count)
        device = "cuda" if count > 0 else "cpu"
        log.info("CUDA_VISIBLE_DEVICES=%r already set; using %s", assigned, device)
        yield device
        return

    count = visible_device_count() if device_count is None else device_count
    if count == 0:
        log.info("no GPU visible; using CPU")
        yield "cpu"
        return

    _check_cuda_not_initialised()
    directory = resolve_lock_dir(lock_dir)
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    next_report = started
    while True:
        for gpu in range(count):
            fd = _try_lock(directory / f"gpu{gpu}.lock")
            if fd is None:
                continue
            # PCI bus order is the order nvidia-smi and NVML use, so gpu{i}.lock names the
            # device nvidia-smi calls i (CUDA's default order puts the fastest first).
            order_was = os.environ.get("CUDA_DEVICE_ORDER")
            if order_was is None:
                os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
            os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
            log.info(
                "leased GPU %d of %d (%s, waited %.1f s)",
                gpu,
                count,
                directory,
                time.monotonic() - started,
            )
            try:
                yield "cuda"
            finally:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                if order_was is None:
                    os.environ.pop("CUDA_DEVICE_ORDER", None)
                os.close(fd)  # closing the only fd of the lock file releases the flock
            return
        now = time.monotonic()
        if now >= next_report:
            log.info(
                "all %d GPUs leased (%s); waiting for one to be released",
                count,
                _holders(directory, count),
            )
            next_report = now + _WAIT_REPORT_SECONDS
        time.sleep(poll_seconds)
