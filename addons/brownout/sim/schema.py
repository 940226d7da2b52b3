"""A small valid instance of a JSON schema: the arguments of a simulated tool call and the text of
a simulated structured answer.

It reads JSON Schema as OpenAI and Anthropic take it (`$defs`/`$ref`, `anyOf`/`oneOf`/`allOf`,
`enum`, `const`, type lists, bounds) and the OpenAPI subset Gemini takes (upper-case `type`
names such as `OBJECT`, `nullable`). Every declared property is filled, so an answer parses into
a model whose fields have no defaults. The result is a pure function of the schema: the same
request gets the same arguments. `pattern` is not honoured (no generator can satisfy any
regular expression); the value then is a plain word.
"""

from __future__ import annotations

import math
from typing import Any

# Past this depth a recursive schema gets empty arrays and only required keys, so it ends.
SHALLOW_DEPTH = 6
# A schema that still nests past this (a required key that refers to itself) has no finite instance.
MAX_DEPTH = 32

# Fixed values for string formats that clients validate.
FORMAT_EXAMPLES = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "duration": "P1D",
    "email": "user@example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


class SchemaError(ValueError):
    """A schema the generator cannot satisfy (a `$ref` to nowhere, endless nesting)."""


def instance(schema: object) -> Any:
    """A value that `schema` accepts."""
    root = schema if isinstance(schema, dict) else {}
    return _value(schema, root, 0)


def _resolve(ref: str, root: dict[str, Any]) -> object:
    if not ref.startswith("#"):
        raise SchemaError(f"$ref {ref!r}: only references inside the schema are followed")
    target: object = root
    for part in ref[1:].split("/")[1:] if ref != "#" else []:
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or key not in target:
            raise SchemaError(f"$ref {ref!r} points nowhere")
        target = target[key]
    return target


def _merged(schemas: list[object]) -> dict[str, Any]:
    """allOf as one schema: later keys win, properties and required add up."""
    merged: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for part in schemas:
        if isinstance(part, dict):
            merged.update({key: value for key, value in part.items() if key not in ("properties", "required")})
            properties.update(part.get("properties") or {})
            required.extend(part.get("required") or [])
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _type_of(schema: dict[str, Any]) -> str | None:
    declared = schema.get("type")
    if isinstance(declared, list):
        # A list such as ["string", "null"]: prefer the informative type.
        named = [item for item in declared if isinstance(item, str) and item.lower() != "null"]
        declared = named[0] if named else "null"
    if isinstance(declared, str):
        return declared.lower()
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def _value(schema: object, root: dict[str, Any], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise SchemaError("the schema nests deeper than any finite instance")
    if not isinstance(schema, dict):
        return ""  # `true` or a missing schema accepts anything
    if "$ref" in schema:
        siblings = {key: value for key, value in schema.items() if key != "$ref"}
        target = _resolve(schema["$ref"], root)
        return _value(_merged([target, siblings]) if siblings else target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if isinstance(schema.get("allOf"), list):
        rest = {key: value for key, value in schema.items() if key != "allOf"}
        return _value(_merged([*schema["allOf"], rest]), root, depth + 1)
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            return _value(_informative(branches, root), root, depth + 1)
    return _typed(schema, _type_of(schema), root, depth)


def _informative(branches: list[object], root: dict[str, Any]) -> object:
    """The first branch that is not just `null`, so optional fields still show a value."""
    for branch in branches:
        target = _resolve(branch["$ref"], root) if isinstance(branch, dict) and "$ref" in branch else branch
        if not (isinstance(target, dict) and _type_of(target) == "null"):
            return branch
    return branches[0]


def _typed(schema: dict[str, Any], kind: str | None, root: dict[str, Any], depth: int) -> Any:
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        return _array(schema, root, depth)
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return ""


def _object(schema: dict[str, Any], root: dict[str, Any], depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    listed = schema.get("required")
    required: list[Any] = listed if isinstance(listed, list) else []
    shallow = depth < SHALLOW_DEPTH
    return {name: _value(sub, root, depth + 1) for name, sub in properties.items() if shallow or name in required}


def _array(schema: dict[str, Any], root: dict[str, Any], depth: int) -> list[Any]:
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list):
        return [_value(item, root, depth + 1) for item in prefix]
    low, high = _bound(schema, "minItems"), _bound(schema, "maxItems")
    count = max(int(low or 0), 1 if depth < SHALLOW_DEPTH else 0)
    if high is not None:
        count = min(count, int(high))
    return [_value(schema.get("items"), root, depth + 1) for _ in range(count)]


def _string(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in FORMAT_EXAMPLES:
        return FORMAT_EXAMPLES[fmt]
    text = "sample"
    low = schema.get("minLength")
    high = schema.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text = text + "x" * (low - len(text))
    if isinstance(high, int):
        text = text[:high]
    return text


def _bound(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _number(schema: dict[str, Any], integer: bool) -> int | float:
    """The lowest value the bounds allow (0 when unbounded below); between exclusive bounds,
    the next integer or the midpoint."""
    low, above = _bound(schema, "minimum"), _bound(schema, "exclusiveMinimum")
    high, below = _bound(schema, "maximum"), _bound(schema, "exclusiveMaximum")
    top = high if high is not None else below
    if integer:
        start = math.ceil(low) if low is not None else (math.floor(above) + 1 if above is not None else 0)
        if high is not None and start > high:
            start = math.floor(high)
        if below is not None and start >= below:
            start = math.ceil(below) - 1
        return start
    if low is not None:
        value = float(low)
    elif above is not None:
        value = (above + top) / 2 if top is not None else above + 1.0
    else:
        value = 0.0
    if high is not None and value > high:
        value = float(high)
    if below is not None and value >= below:
        value = below - 1.0 if low is None and above is None else (value + below) / 2
    return value
