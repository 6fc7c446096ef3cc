"""Probe, run in a fresh interpreter by the loading stage: time and peak extra RSS of loading a
chunk directory, by `rtpref.chunks.load_pairs` ("ours") or by pandas + np.stack ("pandas").

Usage: `python -m perf.probe_loading {ours,pandas} DIRECTORY`; prints one JSON line
{"seconds", "extra_mb"}.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from perf.rss import peak_mb, start_peak


def prepare_ours(directory: Path) -> Callable[[], object]:
    from rtpref.chunks import load_pairs

    load_pairs(directory, [0])  # warm-up: imports, arrow's pool, the first file's footer
    return lambda: load_pairs(directory)


def prepare_pandas(directory: Path) -> Callable[[], object]:
    import numpy as np
    import pandas as pd

    files = sorted(directory.glob("chunk-*.parquet"))
    pd.read_parquet(files[0], columns=["pair_index"])  # warm-up, as for ours

    def load() -> tuple:
        frame = pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)
        x1 = np.stack(frame["x1"].to_numpy())
        x2 = np.stack(frame["x2"].to_numpy())
        return frame, x1, x2

    return load


PREPARE = {"ours": prepare_ours, "pandas": prepare_pandas}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("loader", choices=sorted(PREPARE))
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    load = PREPARE[args.loader](args.directory)
    base = start_peak()
    started = time.perf_counter()
    loaded = load()  # kept alive until the peak is read
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "extra_mb": peak_mb() - base}))
    del loaded


if __name__ == "__main__":
    main()
