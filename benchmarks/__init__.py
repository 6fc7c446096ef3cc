"""Benchmark suite: each hot stage against a reference method or the machine's own limit."""
