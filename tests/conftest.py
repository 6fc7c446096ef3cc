"""Fixtures: a scratch copy of the workflow to run Snakemake in, and the tiny synthetic config.
Shared code (not fixtures) is in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import Workflow, load_test_config


@pytest.fixture
def workflow(request: pytest.FixtureRequest, tmp_path: Path) -> Workflow:
    # `make test-fast` deselects the `workflow` marker: a test that runs Snakemake must carry it.
    if request.node.get_closest_marker("workflow") is None:
        pytest.fail(f"{request.node.nodeid} runs Snakemake: mark it @pytest.mark.workflow")
    return Workflow(tmp_path)


@pytest.fixture
def tiny_config() -> dict:
    return load_test_config("tiny_synthetic")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Workflow:
    """.test/config/tiny_synthetic.yaml run to the end once (as test.yaml), for the workflow
    tests that inspect it or copy it; none may change it."""
    workflow = Workflow(tmp_path_factory.mktemp("tiny_run"))
    config = workflow.write_config(load_test_config("tiny_synthetic"))
    workflow.run("--cores", "2", "--resources", "gpu=2", "--configfile", str(config))
    return workflow
