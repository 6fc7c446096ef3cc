"""The GPU lease (one GPU per training job, see rtpref.devices), tested without a GPU by
faking the device count.

Leases that must exclude each other run in separate processes, as Snakemake jobs do: flock
conflicts are between open file descriptions, and each job is its own process.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rtpref import devices
from rtpref.devices import GpuLeaseError, gpu_lease, resolve_lock_dir, visible_device_count

TIMEOUT = 60  # seconds; a bound on every wait, never a pass/fail threshold

# A lease holder: waits for `go`, takes a lease, claims the leased id with an O_EXCL marker
# file (which fails if another process holds the same id at the same time), appends
# "<id> <pid>" to `record`, touches `acquired`, holds for `hold` seconds (or until killed)
# and releases.
HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from rtpref.devices import gpu_lease

    lock_dir, work, hold, count = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    count = None if count == "auto" else int(count)
    while not (work / "go").exists():
        time.sleep(0.005)
    with gpu_lease(lock_dir=lock_dir, poll_seconds=0.01, device_count=count) as device:
        gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "none")
        marker = work / f"holding-{gpu}"
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            print(f"SHARED: device {gpu} was already held", flush=True)
            sys.exit(3)
        with open(work / "record", "a") as record:
            record.write(f"{device} {gpu} {os.getpid()}\\n")
        (work / f"acquired-{os.getpid()}").touch()
        time.sleep(hold)
        os.close(fd)
        marker.unlink()
    print(f"{device} {gpu}", flush=True)
    """
)


def start_holder(
    lock_dir: Path,
    work: Path,
    hold: float,
    count: int | str = 2,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    environment.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_dir), str(work), str(hold), str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=cwd,
    )


def wait_for(predicate, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, f"holder exited {process.returncode}: {out}\n{err}"
    return out.strip()


def acquired_pids(work: Path) -> set[int]:
    return {int(p.name.split("-")[1]) for p in work.glob("acquired-*")}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "RTPREF_GPU_LOCK_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("RTPREF_FAKE_GPUS", raising=False)
    return monkeypatch


def test_concurrent_leases_never_share_a_device(tmp_path: Path) -> None:
    lock_dir, work = tmp_path / "locks", tmp_path / "work"
    work.mkdir()
    holders = [start_holder(lock_dir, work, hold=0.3) for _ in range(6)]
    (work / "go").touch()
    outputs = [finish(holder) for holder in holders]
    records = (work / "record").read_text().split("\n")[:-1]
    assert len(records) == 6
    assert sorted(outputs) == sorted(" ".join(r.split()[:2]) for r in records)
    assert {r.split()[0] for r in records} == {"cuda"}
    assert {r.split()[1] for r in records} <= {"0", "1"}
    assert not list(work.glob("holding-*")), "a lease was not released"


def test_a_held_device_is_skipped_not_shared(tmp_path: Path) -> None:
    lock_dir, work = tmp_path / "locks", tmp_path / "work"
    work.mkdir()
    (work / "go").touch()
    first = start_holder(lock_dir, work, hold=600)
    try:
        wait_for(lambda: acquired_pids(work) == {first.pid}, "the first lease")
        second = start_holder(lock_dir, work, hold=0)
        assert finish(second) == "cuda 1"
    finally:
        first.kill()
        first.wait(timeout=TIMEOUT)
    assert (work / "record").read_text().split()[1] == "0"


def test_lease_is_released_when_its_process_is_killed(tmp_path: Path) -> None:
    lock_dir = tmp_path / "locks"
    # Separate bookkeeping dirs: the killed holder cannot remove its own marker.
    first, second = tmp_path / "first", tmp_path / "second"
    for work in (first, second):
        work.mkdir()
        (work / "go").touch()
    holder = start_holder(lock_dir, first, hold=600, count=1)
    waiter = None
    try:
        wait_for(lambda: acquired_pids(first) == {holder.pid}, "the holder's lease")
        assert f"pid {holder.pid}" in (lock_dir / "gpu0.lock").read_text()
        waiter = start_holder(lock_dir, second, hold=0, count=1)
        # The only device is held, so the waiter must still be waiting; this can only pass
        # wrongly on a slow machine, never fail wrongly.
        time.sleep(1.0)
        assert waiter.poll() is None, "second lease granted while the device was held"
        assert not acquired_pids(second)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=TIMEOUT)
        assert finish(waiter) == "cuda 0"
    finally:
        for process in (holder, waiter):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=TIMEOUT)
    assert acquired_pids(second) == {waiter.pid}


def test_existing_cuda_visible_devices_is_respected(tmp_path: Path) -> None:
    lock_dir, work = tmp_path / "locks", tmp_path / "work"
    work.mkdir()
    (work / "go").touch()
    lock_dir.mkdir()
    # Hold every device: a lease that tried to lock would wait until the timeout.
    held = [os.open(lock_dir / f"gpu{i}.lock", os.O_RDWR | os.O_CREAT) for i in range(2)]
    try:
        for fd in held:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assigned = start_holder(lock_dir, work, hold=0, env={"CUDA_VISIBLE_DEVICES": "1"})
        assert finish(assigned) == "cuda 1"
        hidden = start_holder(lock_dir, work, hold=0, env={"CUDA_VISIBLE_DEVICES": ""})
        assert finish(hidden) == "cpu"
    finally:
        for fd in held:
            os.close(fd)


def test_no_gpu_means_cpu(tmp_path: Path) -> None:
    lock_dir, work = tmp_path / "locks", tmp_path / "work"
    work.mkdir()
    (work / "go").touch()
    # The device count from the environment (RTPREF_FAKE_GPUS), as jobs see it.
    holder = start_holder(lock_dir, work, hold=0, count="auto", env={"RTPREF_FAKE_GPUS": "0"})
    assert finish(holder) == "cpu none"
    assert not lock_dir.exists(), "a CPU job must not touch the GPU locks"


def test_fake_gpu_count_from_environment(tmp_path: Path) -> None:
    lock_dir, work = tmp_path / "locks", tmp_path / "work"
    work.mkdir()
    (work / "go").touch()
    holder = start_holder(lock_dir, work, hold=0, count="auto", env={"RTPREF_FAKE_GPUS": "2"})
    assert finish(holder) == "cuda 0"


def test_lease_sets_environment_and_restores_it(clean_env, tmp_path: Path) -> None:
    with gpu_lease(lock_dir=tmp_path, device_count=2) as device:
        assert device == "cuda"
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
        assert os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        # Re-entrant: an inner lease sees the variable and keeps it.
        with gpu_lease(lock_dir=tmp_path, device_count=2) as inner:
            assert inner == "cuda"
            assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    assert "CUDA_DEVICE_ORDER" not in os.environ


def test_lease_released_after_an_error(clean_env, tmp_path: Path) -> None:
    with pytest.raises(ValueError), gpu_lease(lock_dir=tmp_path, device_count=1):
        raise ValueError("training failed")
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    fd = os.open(tmp_path / "gpu0.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if still held
    finally:
        os.close(fd)


def test_lock_dir_resolution(clean_env, tmp_path: Path) -> None:
    clean_env.chdir(tmp_path)
    assert resolve_lock_dir() == tmp_path / ".snakemake" / "gpu-locks"
    assert resolve_lock_dir("locks") == tmp_path / "locks"
    clean_env.setenv("RTPREF_GPU_LOCK_DIR", str(tmp_path / "shared"))
    assert resolve_lock_dir() == tmp_path / "shared"
    with gpu_lease(device_count=1):
        assert (tmp_path / "shared" / "gpu0.lock").exists()
    # A relative directory is fixed when the lease is taken, not by a later chdir.
    clean_env.delenv("RTPREF_GPU_LOCK_DIR")
    with gpu_lease(lock_dir="rel", device_count=1):
        os.chdir("/")
        try:
            assert (tmp_path / "rel" / "gpu0.lock").exists()
        finally:
            os.chdir(tmp_path)


def test_refuses_when_cuda_already_initialised(clean_env, tmp_path: Path) -> None:
    import torch

    clean_env.setattr(torch.cuda, "is_initialized", lambda: True)
    with pytest.raises(GpuLeaseError, match="before the GPU lease"):
        with gpu_lease(lock_dir=tmp_path, device_count=2):
            pass
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_bad_arguments(clean_env, tmp_path: Path) -> None:
    with pytest.raises(GpuLeaseError, match="poll_seconds"):
        with gpu_lease(lock_dir=tmp_path, poll_seconds=0, device_count=1):
            pass
    clean_env.setenv("RTPREF_FAKE_GPUS", "two")
    with pytest.raises(GpuLeaseError, match="RTPREF_FAKE_GPUS"):
        visible_device_count()


def test_counting_gpus_does_not_initialise_cuda(clean_env) -> None:
    import torch

    # NVML missing and no CUDA driver library: no GPU, without asking CUDA (or a child).
    clean_env.setattr(devices, "_nvml_device_count", lambda: None)
    clean_env.setattr(devices, "_cuda_driver_present", lambda: False)
    clean_env.setattr(devices, "_count_in_child", lambda: pytest.fail("child asked"))
    if torch.backends.cuda.is_built() and torch.version.hip is None:
        assert visible_device_count() == 0
        # NVML answers: its count is used as it is.
        clean_env.setattr(devices, "_nvml_device_count", lambda: 3)
        assert visible_device_count() == 3
        # NVML missing but a CUDA driver: counted in a child process.
        clean_env.setattr(devices, "_nvml_device_count", lambda: None)
        clean_env.setattr(devices, "_cuda_driver_present", lambda: True)
        clean_env.setattr(devices, "_count_in_child", lambda: 4)
        assert visible_device_count() == 4
    else:
        assert visible_device_count() == 0
    assert not torch.cuda.is_initialized()
