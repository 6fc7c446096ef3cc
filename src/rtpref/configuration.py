"""Command-line config values, typed by the schema before it validates them.

`snakemake --config sizes=[2000,20000]` or `--config pickapic='{sample_size: 30000}'` hands the
workflow strings ("2000", "30000") where the schema wants numbers. Converting a string where,
and only where, the schema allows a number or a boolean (and not a string) makes such
overrides work and leaves everything else to validation, which still names a bad key.
"""

from __future__ import annotations

from typing import Any

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
