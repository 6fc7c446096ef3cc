"""Bad configs stop Snakemake before any job runs, with a message that names the key.

Every case is a real `snakemake --cores 1` run (not a dry run) in a scratch directory: it must
exit non-zero while parsing, leave no results/ or logs/ behind, and print the failing key,
as `validate(config, schema)` in common.smk reports it ("On instance['training']['dropout']")
or as common.smk's own cross-key checks word it. The size-larger-than-the-data case of the
synthetic source is in test_workflow.py::test_asking_for_more_rows_than_exist_fails_before_any_job.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import Workflow
from image_helpers import tiny_demo_config

pytestmark = pytest.mark.workflow

Config = dict[str, Any]


def _set(path: str, value: Any) -> Callable[[Config], None]:
    """A change that sets ``config[a][b]... = value`` for ``path`` "a.b...", creating blocks."""
    keys = path.split(".")

    def change(config: Config) -> None:
        block = config
        for key in keys[:-1]:
            block = block.setdefault(key, {})
        block[keys[-1]] = value

    return change


def _pickapic_sample_too_small(config: Config) -> None:
    config.update(source="pickapic", sizes=[20, 120], test_size=60)
    config["pickapic"] = {"local_path": "/nonexistent", "sample_size": 100}


def _demo_sizes_too_big(config: Config) -> None:
    config.clear()
    config.update(tiny_demo_config(shards=2))
    config["sizes"] = [60, 500]


# (id, change to the tiny synthetic config, substrings the message must contain)
CASES: list[tuple[str, Callable[[Config], None], tuple[str, ...]]] = [
    (
        "unknown_algorithm",
        _set("algorithms", ["log_loss", "ranknet"]),
        ("instance['algorithms'][1]", "'ranknet' is not one of"),
    ),
    (
        "negative_size",
        _set("sizes", [-5, 200]),
        ("instance['sizes'][0]", "-5 is less than the minimum of 2"),
    ),
    (
        "size_not_integer",
        _set("sizes", [200, "big"]),
        ("instance['sizes'][1]", "'big' is not of type 'integer'"),
    ),
    ("sizes_not_a_list", _set("sizes", 200), ("instance['sizes']", "200 is not of type 'array'")),
    (
        "demo_size_larger_than_data",
        _demo_sizes_too_big,
        ("sizes [500] exceed the 180 training pairs", "source 'demo'"),
    ),
    (
        "pickapic_sample_smaller_than_sizes",
        _pickapic_sample_too_small,
        ("sizes [120] exceed the 40 training pairs", "source 'pickapic'"),
    ),
    (
        "barrier_zero",
        _set("ddm.barrier", 0),
        ("instance['ddm']['barrier']", "less than or equal to the minimum of 0"),
    ),
    ("barrier_negative", _set("ddm.barrier", -1.0), ("instance['ddm']['barrier']",)),
    (
        "barrier_auto_for_simulated_data",
        _set("ddm.barrier", "auto"),
        ("ddm.barrier: auto needs source recorded",),
    ),
    ("barrier_word", _set("ddm.barrier", "big"), ("instance['ddm']['barrier']", "'^auto$'")),
    ("empty_seed_list", _set("seeds", []), ("instance['seeds']", "should be non-empty")),
    ("duplicate_seeds", _set("seeds", [0, 0]), ("instance['seeds']", "non-unique")),
    ("negative_seed", _set("seeds", [-1]), ("instance['seeds'][0]",)),
    (
        "unknown_source",
        _set("source", "imagenet"),
        ("instance['source']", "'imagenet' is not one of"),
    ),
    ("unknown_top_level_key", _set("learnig_rate", 0.1), ("'learnig_rate' was unexpected",)),
    (
        "unknown_nested_key",
        _set("training.epochs", 3),
        ("instance['training']", "'epochs' was unexpected"),
    ),
    (
        "unknown_deeply_nested_key",
        _set("demo.model.depth", 3),
        ("instance['demo']['model']", "'depth' was unexpected"),
    ),
    (
        "learning_rate_not_a_number",
        _set("training.learning_rate", "fast"),
        ("instance['training']['learning_rate']", "'fast' is not of type 'number'"),
    ),
    (
        "learning_rate_zero",
        _set("training.learning_rate", 0),
        ("instance['training']['learning_rate']",),
    ),
    (
        "batch_norm_not_boolean",
        _set("training.batch_norm", "yes"),
        ("instance['training']['batch_norm']", "'yes' is not of type 'boolean'"),
    ),
    ("dropout_one", _set("training.dropout", 1.0), ("instance['training']['dropout']",)),
    (
        "test_size_too_big",
        _set("test_size", 900),
        ("test_size=900 leaves no training pairs", "provides 900"),
    ),
    ("test_size_zero", _set("test_size", 0), ("instance['test_size']",)),
    ("bad_name_pattern", _set("name", "my run"), ("instance['name']", "does not match")),
    (
        "name_outside_results",
        _set("name", ".."),
        ("config key name: '..' is a path, not a name", "e.g. my_experiment"),
    ),
    ("zero_shards", _set("shards", 0), ("instance['shards']", "less than the minimum of 1")),
    (
        "block_not_a_mapping",
        _set("synthetic", 5),
        ("instance['synthetic']", "not of type 'object'"),
    ),
]


def assert_stopped_before_any_job(workflow: Workflow, result, needles: tuple[str, ...]) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    for needle in needles:
        assert needle in output, f"{needle!r} not in:\n{output[-3000:]}"
    assert not (workflow.root / "results").exists(), "a job ran before the config was rejected"
    assert not (workflow.root / "logs").exists(), "a job ran before the config was rejected"


@pytest.mark.parametrize(
    ("change", "needles"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_config_stops_before_any_job(
    workflow: Workflow,
    tiny_config: Config,
    change: Callable[[Config], None],
    needles: tuple[str, ...],
) -> None:
    config = copy.deepcopy(tiny_config)
    change(config)
    path = workflow.write_config(config)
    result = workflow.run("--cores", "1", "--configfile", str(path), check=False, timeout=300)
    assert_stopped_before_any_job(workflow, result, needles)


def test_a_key_given_twice_in_the_config_file_stops_before_any_job(
    workflow: Workflow, tiny_config: Config
) -> None:
    path = workflow.write_config(tiny_config)
    lines = path.read_text().splitlines()
    lines.append("test_size: 100")
    path.write_text("\n".join(lines) + "\n")
    first = 1 + next(number for number, line in enumerate(lines) if line.startswith("test_size:"))
    result = workflow.run("--cores", "1", "--configfile", str(path), check=False, timeout=300)
    assert_stopped_before_any_job(
        workflow,
        result,
        (f"line {len(lines)}: config key test_size is given twice (first on line {first})",),
    )
    # One message, not a traceback through the library.
    assert "rtpref/configuration.py" not in result.stdout + result.stderr


def test_bad_command_line_override_is_validated(workflow: Workflow, tiny_config: Config) -> None:
    path = workflow.write_config(tiny_config)
    result = workflow.run(
        "--cores",
        "1",
        "--configfile",
        str(path),
        "--config",
        "sizes=[200,1]",
        check=False,
        timeout=300,
    )
    assert_stopped_before_any_job(workflow, result, ("instance['sizes'][1]", "minimum of 2"))


# --- configs cannot smuggle in code through YAML tags ---------------------------------------

PYTHON_TAGS = {
    "object_apply": "!!python/object/apply:os.system ['touch {marker}']",
    "object_new": "!!python/object/new:os.system ['touch {marker}']",
    "object": "!!python/object:subprocess.Popen {{args: ['touch', '{marker}']}}",
}


@pytest.mark.parametrize("tag", list(PYTHON_TAGS), ids=list(PYTHON_TAGS))
def test_python_yaml_tags_are_rejected(
    workflow: Workflow, tiny_config: Config, tmp_path: Path, tag: str
) -> None:
    marker = tmp_path / "code-ran"
    path = workflow.write_config(tiny_config)
    path.write_text(path.read_text() + "payload: " + PYTHON_TAGS[tag].format(marker=marker) + "\n")
    result = workflow.run("--cores", "1", "--configfile", str(path), check=False, timeout=300)
    assert_stopped_before_any_job(workflow, result, ("not valid JSON or YAML",))
    assert not marker.exists(), "a YAML tag in the config ran code"


@pytest.mark.xfail(
    strict=True,
    reason="Snakemake renders config files with YTE when they set `__use_yte__: true`, which "
    "evaluates Python expressions: a config file is as trusted as the Snakefile (README, "
    "'Failure behaviour'). Strict, so that a Snakemake that stops doing this is noticed.",
)
def test_yte_template_in_config_cannot_run_code(
    workflow: Workflow, tiny_config: Config, tmp_path: Path
) -> None:
    marker = tmp_path / "code-ran"
    path = workflow.write_config(tiny_config)
    path.write_text(
        "__use_yte__: true\n"
        + path.read_text()
        + f'payload: ?__import__("pathlib").Path("{marker}").touch()\n'
    )
    workflow.run("--cores", "1", "--configfile", str(path), check=False, timeout=300)
    assert not marker.exists(), "the config file ran code"
