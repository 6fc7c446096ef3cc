"""Config checks before any job: command-line values typed by the schema, and what the
schema cannot say (duplicate keys in a file, NaN/inf, a decimal count, a name that is a path).

`snakemake --config sizes=[2000,20000]` or `--config pickapic='{sample_size: 30000}'` hands the
workflow strings ("2000", "30000") where the schema wants numbers. Converting a string where,
and only where, the schema allows a number or a boolean (and not a string) makes such
overrides work and leaves everything else to validation, which still names a bad key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

_BOOLEANS = {"true": True, "false": False}


def _types(schema: dict[str, Any]) -> set[str]:
    kinds = schema.get("type", [])
    return {kinds} if isinstance(kinds, str) else set(kinds)


def _convert_string(text: str, kinds: set[str]) -> Any:
    # A key that is a number or a word (e.g. a barrier or ``auto``) takes numbers as numbers.
    if "string" in kinds and not kinds & {"integer", "number"}:
        return text
    word = text.strip()
    for kind, convert in (("integer", int), ("number", float)):
        if kind in kinds:
            try:
                return convert(word)
            except ValueError:
                pass
    if "boolean" in kinds and word.lower() in _BOOLEANS:
        return _BOOLEANS[word.lower()]
    if "null" in kinds and word.lower() in ("null", "none", "~"):
        return None
    return text


def coerce_to_schema(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` with strings converted where ``schema`` expects a number, boolean or null.

    Walks objects (``properties``) and arrays (``items``); anything it cannot convert is
    returned unchanged, for the schema validation to report.
    """
    if isinstance(value, str):
        return _convert_string(value, _types(schema))
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {
            key: coerce_to_schema(item, properties[key]) if key in properties else item
            for key, item in value.items()
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce_to_schema(item, schema["items"]) for item in value]
    return value


class ConfigError(ValueError):
    """A config value the schema accepts but the workflow would not use as meant."""


def _key_name(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def check_values(value: Any, schema: dict[str, Any], path: tuple[str | int, ...] = ()) -> None:
    """Refuse what JSON-schema validation lets through: NaN/inf, and floats where counts go.

    JSON schema calls 200.0 an integer and NaN passes every bound (all comparisons with NaN are
    false), so ``sizes: [200.0]`` failed late without naming the key and ``dropout: .nan``
    trained without dropout. Raises ConfigError naming the key and what to write instead.
    """
    if isinstance(value, float):
        key = _key_name(path)
        if not math.isfinite(value):
            raise ConfigError(
                f"config key {key}: {value} is not a finite number; give a finite value"
            )
        kinds = _types(schema)
        if "integer" in kinds and "number" not in kinds:
            whole = f"write {int(value)}" if value.is_integer() else "give a whole number"
            raise ConfigError(
                f"config key {key}: {value!r} is a decimal number but this key is a count; {whole}"
            )
    elif isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            check_values(item, properties.get(key, {}), (*path, key))
    elif isinstance(value, list):
        items = schema.get("items")
        for position, item in enumerate(value):
            check_values(item, items if isinstance(items, dict) else {}, (*path, position))


def check_name(name: Any) -> None:
    """``name`` must be one directory under results/ (and logs/, benchmarks/), not a path."""
    if not isinstance(name, str):
        return  # the schema reports a name that is not a string
    if name in ("", ".", "..") or any(sep in name for sep in ("/", "\\")):
        raise ConfigError(
            f"config key name: {name!r} is a path, not a name (outputs would go to "
            f"results/{name}/ instead of their own directory under results/); use letters, "
            "digits, '_', '-' and '.', e.g. my_experiment"
        )


class _DuplicateKey(Exception):
    pass


def _check_mapping_keys(node: yaml.Node, path: tuple[str, ...]) -> None:
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise _DuplicateKey(_key_name((*path, key)), line, first_line[key])
            first_line[key] = line
            _check_mapping_keys(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_mapping_keys(item, path)


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Refuse a key given twice in one mapping of a YAML (or JSON) config file.

    YAML loaders, Snakemake's included, keep the later value silently (a barrier set twice is
    reset without a word). Only the node tree is built, so no tag in the file is constructed.
    """
    for path in paths:
        try:
            root = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        except (OSError, yaml.YAMLError):
            continue  # Snakemake has already loaded the file; it reports unreadable ones itself
        try:
            _check_mapping_keys(root, ())
        except _DuplicateKey as duplicate:
            key, line, first = duplicate.args
            raise ConfigError(
                f"{path}, line {line}: config key {key} is given twice (first on line {first}); "
                "the later value would silently win: keep one of them"
            ) from None


def check_config(
    config: dict[str, Any], schema: dict[str, Any], config_files: Iterable[str | Path] = ()
) -> None:
    """All checks of a config that JSON-schema validation cannot express, before any job."""
    check_config_files(config_files)
    check_values(config, schema)
    check_name(config.get("name"))
