"""Benchmark suite: each hot stage against a reference method, a peer library or the machine's
own limit, measured side by side in one run (`python -m perf.run`).

Modules: `run` (the command line and table), `common` (row format, timing, probes), one module
per stage (`ddm`, `ddm_peers`, `training`, `loading`, `memory`, `embedding`, `dag`), the
reference samplers (`reference`), the analytic first-passage-time distribution (`fpt`), and the
probes run in fresh interpreters (`probe_loading`, `probe_memory`, with `rss` for their memory
readings).
"""
