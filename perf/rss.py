"""Resident-memory readings of the current process (Linux /proc), for the probes: reset the
peak, then read the peak reached since."""

from __future__ import annotations


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {key} line")


def start_peak() -> float:
    """Reset the peak (VmHWM) to the current RSS, so the peak read next is this step's; returns
    the current RSS in MB."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    return _status_mb("VmRSS")


def peak_mb() -> float:
    """Peak RSS in MB since the last `start_peak`."""
    return _status_mb("VmHWM")
