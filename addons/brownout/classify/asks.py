"""What a request asks of the model beyond prose, in any provider's body: the tools it offers
(name and parameters' JSON schema), whether it wants JSON (any object, or one a schema accepts),
and its output-token limit. Rules match on the first two (`tools`, `structured_output`, through
`request.classify`); the content faults read all three. Pure: plain mappings in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any


@dataclass(frozen=True, slots=True)
class Asks:
    # Offered function tools: name -> the JSON schema of its parameters ({} when none is given).
    tools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    json: bool = False  # the answer must be JSON (a JSON mode or a schema)
    schema: Mapping[str, Any] | None = None  # ... that this JSON schema accepts
    max_output: int | None = None  # the request's limit on output tokens

    @property
    def structured(self) -> bool:
        return self.json or self.schema is not None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _limit(*values: object) -> int | None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def proto_field(message: Mapping[str, Any], name: str) -> Any:
    """A proto-JSON field by its lowerCamel name or the proto's snake_case one: the Gemini API takes
    both, and google-genai sends some nested fields (`parameters_json_schema`, `include_thoughts`)
    in the latter."""
    if name in message:
        return message[name]
    return message.get(re.sub(r"([A-Z])", lambda upper: "_" + upper.group(1).lower(), name))


def _chat(body: Mapping[str, Any]) -> Asks:
    tools = {
        str(function.get("name", "")): _dict(function.get("parameters"))
        for tool in _dicts(body.get("tools"))
        if tool.get("type", "function") == "function" and isinstance(function := tool.get("function"), dict)
    }
    response_format = _dict(body.get("response_format"))
    kind = response_format.get("type")
    schema = _dict(_dict(response_format.get("json_schema")).get("schema")) if kind == "json_schema" else None
    limit = _limit(body.get("max_completion_tokens"), body.get("max_tokens"))
    return Asks(tools, kind in ("json_object", "json_schema"), schema, limit)


def _responses(body: Mapping[str, Any]) -> Asks:
    tools = {
        str(tool.get("name", "")): _dict(tool.get("parameters"))
        for tool in _dicts(body.get("tools"))
        if tool.get("type") == "function"
    }
    text_format = _dict(_dict(body.get("text")).get("format"))
    kind = text_format.get("type")
    schema = _dict(text_format.get("schema")) if kind == "json_schema" else None
    return Asks(tools, kind in ("json_object", "json_schema"), schema, _limit(body.get("max_output_tokens")))


def _anthropic(body: Mapping[str, Any]) -> Asks:
    tools = {
        str(tool.get("name", "")): _dict(tool.get("input_schema"))
        for tool in _dicts(body.get("tools"))
        # Server tools (web search, code execution...) carry a versioned type and no schema.
        if tool.get("type", "custom") == "custom"
    }
    # `output_config.format` is the structured-output field; `output_format` its beta name.
    output = _dict(_dict(body.get("output_config")).get("format")) or _dict(body.get("output_format"))
    schema = _dict(output.get("schema")) if output.get("type") == "json_schema" else None
    return Asks(tools, schema is not None, schema, _limit(body.get("max_tokens")))


def _gemini(body: Mapping[str, Any]) -> Asks:
    tools = {
        str(declaration.get("name", "")): _dict(
            proto_field(declaration, "parametersJsonSchema") or declaration.get("parameters")
        )
        for tool in _dicts(body.get("tools"))
        for declaration in _dicts(proto_field(tool, "functionDeclarations"))
    }
    config = _dict(proto_field(body, "generationConfig"))
    as_json = str(proto_field(config, "responseMimeType") or "").startswith("application/json")
    schema = proto_field(config, "responseJsonSchema") or proto_field(config, "responseSchema")
    return Asks(
        tools,
        as_json,
        schema if as_json and isinstance(schema, dict) else None,
        _limit(proto_field(config, "maxOutputTokens")),
    )


NOTHING = Asks()


def asks_of(provider: str, endpoint: str, body: Mapping[str, Any]) -> Asks:
    """What a request's JSON body asks for, by the provider and endpoint it was classified as
    (NOTHING for endpoints that answer no text)."""
    if provider == "anthropic":
        return _anthropic(body) if endpoint == "messages" else NOTHING
    if provider == "gemini":
        return _gemini(body) if endpoint in ("generate", "stream-generate") else NOTHING
    if endpoint == "responses":
        return _responses(body)
    if endpoint == "chat":
        return _chat(body)
    return NOTHING
