"""Command-line config strings are typed by the schema, and only where it wants no string."""

from __future__ import annotations

from pathlib import Path

import yaml

from rtpref.configuration import coerce_to_schema

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
