"""The shared names (rtpref.names) agree with the schema and the library, and parsing the
workflow, which imports them, never imports torch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from rtpref.metrics import evaluate
from rtpref.names import ALGORITHMS, FIGURE_METRICS, METRICS, OPTIONS_USED, PERSONALIZED
from rtpref.plots import LABELS

REPO = Path(__file__).resolve().parents[1]


def test_names_agree_with_schema_and_library() -> None:
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    assert schema["properties"]["algorithms"]["items"]["enum"] == [*ALGORITHMS, *PERSONALIZED]
    assert set(OPTIONS_USED) == {*ALGORITHMS, *PERSONALIZED}
    values = evaluate(np.array([1.0, -1.0]), np.array([1, 1]), np.zeros(2), np.ones(2))
    assert tuple(values) == METRICS
    assert set(FIGURE_METRICS) <= set(METRICS) and set(FIGURE_METRICS) <= set(LABELS)


@pytest.mark.workflow
@pytest.mark.parametrize("config", ["config.yaml", "pickapic.yaml", "synthetic.yaml"])
def test_parsing_the_workflow_imports_no_torch(workflow, tmp_path: Path, config: str) -> None:
    # A `torch` first on the path that leaves a mark and fails: an import caught by an
    # `except ImportError` (or any except) still leaves the mark.
    fake = tmp_path / "fake-packages"
    (fake / "torch").mkdir(parents=True)
    mark = tmp_path / "torch-was-imported"
    (fake / "torch" / "__init__.py").write_text(
        f"open({str(mark)!r}, 'w').close()\n"
        "raise RuntimeError('torch imported while parsing the workflow')\n"
    )
    python_path = os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])
    result = workflow.run(
        "-n", "--configfile", f"config/{config}", env={"PYTHONPATH": python_path}, timeout=120
    )
    assert "This was a dry-run" in result.stdout
    assert not mark.exists(), result.stderr[-4000:]
