"""Run the benchmark suite: `python -m perf.run [--only ddm,training,...]`.

Every number is a ratio measured side by side in this run (ours vs a reference implementation
or a peer library, or achieved vs the machine's own measured limit), so it means the same on
a noisy machine.
Writes results/bench/bench.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from perf import dag, ddm, embedding, loading, memory, training

OUTPUT = Path("results/bench/bench.json")
STAGES = {
    "ddm": ddm.bench_ddm,
    "training": training.bench_training,
    "loading": loading.bench_loading,
    "embedding": embedding.bench_embedding,
    "memory": memory.bench_memory,
    "dag": dag.bench_dag,
}


def print_table(rows: list[dict]) -> None:
    header = f"{'benchmark':56} {'value':>12} {'unit':10} {'ratio':>9} {'target':>10}  pass"
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.3g}"
        target = row["target"] or ""
        mark = {True: "yes", False: "NO", None: ""}[row["pass"]]
        value = row["value"]
        if isinstance(value, str):  # a row that could not be measured says why
            print(f"{row['name']:56} {value}")
            continue
        print(f"{row['name']:56} {value:>12.4g} {row['unit']:10} {ratio:>9} {target:>10}  {mark}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        default=",".join(STAGES),
        help=f"comma-separated stages out of {', '.join(STAGES)}",
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(STAGES))
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
    rows: list[dict] = []
    started = time.perf_counter()
    for name in chosen:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        stage_started = time.perf_counter()
        rows.extend(STAGES[name]())
        print(
            f"[bench] {name} done in {time.perf_counter() - stage_started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    print_table(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {"seconds": time.perf_counter() - started, "results": rows}
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.output} ({payload['seconds']:.0f} s)")
    failed = [row["name"] for row in rows if row["pass"] is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
