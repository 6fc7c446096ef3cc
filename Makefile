# Entry points: `make demo` runs the default workflow end to end, `make test` all the tests (the
# CI command), `make test-fast` the unit tests only (no Snakemake runs). Each creates .venv first
# if it is missing (or older than pyproject.toml or the lock file).
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
CORES ?= 2
GPUS ?= 2
# The exact set of packages the tests ran with (pyproject.toml has ranges).
LOCK := requirements/lock.txt
TORCH := $(shell grep -E '^(torch|torchvision)==' $(LOCK))

.PHONY: demo test test-fast lint bench clean

$(BIN)/.installed: pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, by exact version, so pip takes the local wheel instead of a download.
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

demo: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) --resources gpu=$(GPUS)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not workflow and not slurm"

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check .
	$(BIN)/python .ci/snakemake_lint.py

bench: $(BIN)/.installed
	# The peer libraries (the `bench` extra); if they cannot be installed, their rows say so.
	$(BIN)/python -m pip install --quiet -e ".[bench]" || echo "bench: peers not installed"
	$(BIN)/python -m perf.run

clean:
	rm -rf results/*/ logs benchmarks .snakemake report.html
