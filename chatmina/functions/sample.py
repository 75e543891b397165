"""Example arguments built from a JSON Schema, for the "Test" button."""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 6


def sample(schema: Any, depth: int = 0) -> Any:
    """A plausible value for ``schema``: its example, default, const or first enum value
    when it has one, otherwise a placeholder of the right type (required fields only)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return sample(options[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        required = schema.get("required") or []
        return {
            name: sample(properties.get(name, {}), depth + 1)
            for name in required
            if isinstance(name, str)
        }
    if kind == "array":
        count = int(schema.get("minItems", 0) or 0)
        return [sample(schema.get("items", {}), depth + 1) for _ in range(min(count, 5))]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return schema.get("minimum", 1.5)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "string":
        return _string(schema)
    return None


def _string(schema: dict[str, Any]) -> str:
    formats = {
        "email": "visitor@example.com",
        "date": "2026-01-31",
        "date-time": "2026-01-31T12:00:00Z",
        "uri": "https://example.com/",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    value = formats.get(str(schema.get("format", "")), "example")
    minimum = int(schema.get("minLength", 0) or 0)
    if len(value) < minimum:
        value = value + "x" * (minimum - len(value))
    return value
