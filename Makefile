# Two entry points: `make demo` runs the default workflow end to end, `make test` the tests.
# Both create .venv first if it is missing (or older than pyproject.toml).
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
CORES ?= 2
GPUS ?= 2

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, by exact version, so pip takes the local wheel instead of a download.
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) --resources gpu=$(GPUS)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint

bench: $(BIN)/.installed
	# The peer libraries (the `bench` extra); if they cannot be installed, their rows say so.
	$(BIN)/python -m pip install --quiet -e ".[bench]" || echo "bench: peers not installed"
	$(BIN)/python -m perf.run

clean:
	rm -rf results/*/ logs benchmarks .snakemake report.html
