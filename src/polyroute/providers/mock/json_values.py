"""A JSON value that satisfies a JSON Schema, for the mock's `response_format: json_schema` and
tool-call arguments: deterministic, small, and bounded in depth and size whatever the schema.

Covers what structured outputs use: `type` (one or a list), `enum`, `const`, `properties` /
`required` / `additionalProperties`, `items` / `prefixItems` / `minItems` / `maxItems`, string
lengths and a few `format`s, numeric bounds, `anyOf` / `oneOf` (the first branch that works),
`allOf` (merged), and local `$ref`s (`#/$defs/...`, `#/definitions/...`). `pattern` is not
honoured (the value is a plain string).
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 16
MAX_NODES = 2000
FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "mock@example.com",
    "uri": "https://example.com/mock",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "hostname": "example.com",
}


class _Builder:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.nodes = 0

    def value(self, schema: Any, depth: int) -> Any:
        self.nodes += 1
        if not isinstance(schema, dict) or depth > MAX_DEPTH or self.nodes > MAX_NODES:
            return None
        schema = self._resolved(schema, depth)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                # Prefer a branch that is not null: a value says more than its absence.
                chosen = next((b for b in branches if not _is_null(b)), branches[0])
                return self.value(chosen, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
        if kind is None:
            kind = _implied_type(schema)
        builder = getattr(self, f"_{kind}", None)
        return builder(schema, depth) if builder else "mock"

    def _resolved(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        for _ in range(MAX_DEPTH):
            ref = schema.get("$ref")
            if not isinstance(ref, str) or not ref.startswith("#/"):
                break
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = (
                    target.get(part.replace("~1", "/").replace("~0", "~"))
                    if isinstance(target, dict)
                    else None
                )
            if not isinstance(target, dict):
                break
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        parts = schema.get("allOf")
        if isinstance(parts, list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in parts:
                if isinstance(part, dict):
                    part = self._resolved(part, depth + 1)
                    merged["properties"] = {**merged.get("properties", {}), **part.get("properties", {})}
                    merged["required"] = [*merged.get("required", []), *part.get("required", [])]
                    merged.update({k: v for k, v in part.items() if k not in ("properties", "required")})
            schema = merged
        return schema

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = [r for r in schema.get("required") or () if isinstance(r, str)]
        # Every property near the top (strict structured outputs require them all); deeper down
        # only the required ones, so recursive schemas end.
        names = list(props) if depth < 4 else [n for n in props if n in required]
        names += [r for r in required if r not in names]
        out: dict[str, Any] = {}
        for name in names:
            out[name] = self.value(props.get(name, {}), depth + 1)
        return out

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
        low = _int(schema.get("minItems"), 0)
        high = _int(schema.get("maxItems"), max(low, 1))
        count = min(max(low, len(prefix), 1 if depth < 4 else 0), high, 64)
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [self.value(prefix[i] if i < len(prefix) else items, depth + 1) for i in range(count)]

    def _string(self, schema: dict[str, Any], depth: int) -> str:
        text = FORMATS.get(schema.get("format"), "mock")
        low, high = _int(schema.get("minLength"), 0), _int(schema.get("maxLength"), 1 << 16)
        if len(text) < low:
            text += "x" * min(low - len(text), 4096)
        return text[:high]

    def _integer(self, schema: dict[str, Any], depth: int) -> int:
        return int(math.ceil(self._number(schema, depth)))

    def _number(self, schema: dict[str, Any], depth: int) -> float:
        low = _num(schema.get("minimum"))
        exclusive = _num(schema.get("exclusiveMinimum"))
        high = _num(schema.get("maximum"))
        value = 1.0
        if low is not None:
            value = max(value, low) if high is None or max(value, low) <= high else low
        if exclusive is not None and value <= exclusive:
            value = exclusive + 1
        if high is not None and value > high:
            value = high
        return value

    def _boolean(self, schema: dict[str, Any], depth: int) -> bool:
        return True

    def _null(self, schema: dict[str, Any], depth: int) -> None:
        return None


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _implied_type(schema: dict[str, Any]) -> str:
    if "properties" in schema or "additionalProperties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def value_for_schema(schema: Any) -> Any:
    """A value valid against `schema` (for the features listed above)."""
    root = schema if isinstance(schema, dict) else {}
    return _Builder(root).value(root, 0)
