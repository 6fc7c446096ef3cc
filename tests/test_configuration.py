"""Command-line config strings are typed by the schema, and only where it wants no string."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from rtpref.configuration import ConfigError, check_config, coerce_to_schema

SCHEMA = yaml.safe_load((Path(__file__).parents[1] / "config" / "schema.yaml").read_text())


def test_numbers_and_booleans_from_the_command_line_are_typed() -> None:
    overrides = {
        "sizes": ["2000", "20000"],
        "test_size": "500",
        "pickapic": {"sample_size": "30000", "local_path": "/data/pickapic"},
        "training": {"learning_rate": "3e-4", "batch_norm": "false", "hidden": ["64", "32"]},
    }
    typed = coerce_to_schema(overrides, SCHEMA)
    assert typed["sizes"] == [2000, 20000]
    assert typed["test_size"] == 500
    assert typed["pickapic"] == {"sample_size": 30000, "local_path": "/data/pickapic"}
    assert typed["training"]["learning_rate"] == 3e-4
    assert typed["training"]["batch_norm"] is False
    assert typed["training"]["hidden"] == [64, 32]


def test_strings_stay_strings_where_the_schema_wants_a_string() -> None:
    typed = coerce_to_schema({"name": "2024", "split": "123"}, SCHEMA)
    assert typed == {"name": "2024", "split": "123"}


def test_unconvertible_values_are_left_for_validation_to_report() -> None:
    overrides = {"sizes": ["big"], "training": {"batch_norm": "yes"}, "unknown": "1"}
    assert coerce_to_schema(overrides, SCHEMA) == overrides


# --- values the schema accepts but the workflow would not use as meant ---------------------

COUNT_KEYS = [
    # (a path into the config, the schema's integer keys of every kind of place)
    ("test_size",),
    ("shards",),
    ("sizes", 0),
    ("seeds", 0),
    ("training", "batch_size"),
    ("training", "hidden", 1),
    ("chunks", "rows_per_chunk"),
    ("pickapic", "sample_size"),
    ("demo", "model", "embed_dim"),
]


def _config_with(path: tuple, value) -> tuple[dict, str]:
    config: dict = {"sizes": [200, 400], "seeds": [0], "training": {"hidden": [8, 4]}}
    block = config
    for key, following in zip(path[:-1], path[1:], strict=True):
        block = block.setdefault(key, [0] if isinstance(following, int) else {})
    block[path[-1]] = value
    name = ".".join(str(part) for part in path if isinstance(part, str))
    name += "".join(f"[{part}]" for part in path if isinstance(part, int))
    return config, name


@pytest.mark.parametrize("path", COUNT_KEYS, ids=[".".join(map(str, p)) for p in COUNT_KEYS])
def test_a_decimal_number_where_a_count_goes_is_refused_by_key(path: tuple) -> None:
    config, key = _config_with(path, 300.0)
    with pytest.raises(ConfigError, match=re.escape(f"config key {key}: 300.0")) as error:
        check_config(config, SCHEMA)
    assert "write 300" in str(error.value)


def test_every_integer_key_of_the_schema_is_checked() -> None:
    """A count key added to the schema later is covered without a change to the check."""
    def integer_paths(schema: dict, path: tuple = ()) -> list[tuple]:
        found = [path] if "integer" in ([schema["type"]] if isinstance(schema.get("type"), str)
                                        else schema.get("type", [])) else []
        for key, sub in schema.get("properties", {}).items():
            found += integer_paths(sub, (*path, key))
        if isinstance(schema.get("items"), dict):
            found += integer_paths(schema["items"], (*path, 0))
        return found

    paths = integer_paths(SCHEMA)
    assert len(paths) > 30
    for path in paths:
        config, _ = _config_with(path, 7.0)
        with pytest.raises(ConfigError, match="is a decimal number but this key is a count"):
            check_config(config, SCHEMA)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "path", [("training", "dropout"), ("ddm", "barrier"), ("ddm", "reward_diff_std"), ("sizes", 1)]
)
def test_non_finite_numbers_are_refused_by_key(path: tuple, value: float) -> None:
    config, key = _config_with(path, value)
    with pytest.raises(ConfigError, match=re.escape(f"config key {key}: ") + ".*not a finite"):
        check_config(config, SCHEMA)


def test_nan_typed_from_the_command_line_is_refused() -> None:
    config = coerce_to_schema({"training": {"dropout": "nan"}}, SCHEMA)
    with pytest.raises(ConfigError, match=r"training\.dropout: nan is not a finite number"):
        check_config(config, SCHEMA)


@pytest.mark.parametrize("name", ["..", ".", "../x", "/abs", "a/b", "a\\b", ""])
def test_a_name_that_is_a_path_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="config key name: .* is a path, not a name"):
        check_config({"name": name}, SCHEMA)


def test_good_values_pass() -> None:
    config = yaml.safe_load((Path(__file__).parents[1] / "config" / "config.yaml").read_text())
    check_config(config, SCHEMA, [Path(__file__).parents[1] / "config" / "config.yaml"])


@pytest.mark.parametrize(
    ("text", "key", "line", "first"),
    [
        ("name: a\nsizes: [2]\nname: b\n", "name", 3, 1),
        ("ddm:\n  barrier: 1.0\n  seed: 0\n  barrier: 0.01\n", "ddm.barrier", 4, 2),
        ('{"seeds": [0], "test_size": 3, "seeds": [1]}\n', "seeds", 1, 1),
    ],
    ids=["top_level", "nested", "json"],
)
def test_a_key_given_twice_in_a_config_file_is_refused_with_its_line(
    tmp_path: Path, text: str, key: str, line: int, first: int
) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    message = f"{path}, line {line}: config key {key} is given twice (first on line {first})"
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config({}, SCHEMA, [path])


def test_the_duplicate_key_check_builds_no_objects_from_tags(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "tagged.yaml"
    path.write_text(f"payload: !!python/object/apply:os.system ['touch {marker}']\n")
    check_config({}, SCHEMA, [path])
    assert not marker.exists()
