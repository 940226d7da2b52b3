"""What a request asks of the model beyond prose: a tool call, a structured answer, reasoning.

One reader per wire format turns its body into an `Ask`. The rule for tools is deterministic so
an agent loop can be rehearsed: a tool choice that requires a tool (OpenAI `required` or a named
function, Anthropic `any`/`tool`, Gemini mode `ANY`) always gets a call; with tools offered and
the choice left to the model, the model calls the first tool when the conversation ends with the
user's own words, and answers in text once it ends with a tool's result. `none` never calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Model families that reason before answering (OpenAI's o-series and gpt-5; Gemini 2.5 and later).
OPENAI_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "gpt-6")
OPENAI_NON_REASONING = ("-chat",)  # gpt-5-chat-latest and its kin answer without reasoning
GEMINI_THINKING_MARKERS = ("gemini-2.5", "gemini-3")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """The function the simulated model calls, with its parameters' JSON schema."""

    name: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ask:
    tool: ToolSpec | None = None
    schema: dict[str, Any] | None = None  # the answer must be JSON this schema accepts
    json_object: bool = False  # the answer must be a JSON object, any object
    reasoning: bool = False  # the model reasons first (reasoning tokens are counted)
    show_reasoning: bool = False  # ... and the answer carries that reasoning as text


NOTHING = Ask()


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _pick(tools: list[ToolSpec], forced: bool, name: str | None, model_turn: bool) -> ToolSpec | None:
    """The tool to call: the named one, else the first; None when the model answers in text."""
    if not tools or not (forced or name or model_turn):
        return None
    if name:
        return next((tool for tool in tools if tool.name == name), None)
    return tools[0]


def _schema(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- OpenAI Chat Completions --------------------------------------------------------------


def openai_reasons(model: str, effort: object) -> bool:
    if effort == "none":
        return False
    if isinstance(effort, str):
        return True
    name = model.lower()
    return name.startswith(OPENAI_REASONING_PREFIXES) and not any(part in name for part in OPENAI_NON_REASONING)


def chat_ask(body: dict[str, Any], model: str) -> Ask:
    tools = [
        ToolSpec(str(function.get("name", "")), _schema(function.get("parameters")))
        for tool in _dicts(body.get("tools"))
        if tool.get("type", "function") == "function" and isinstance(function := tool.get("function"), dict)
    ]
    choice = body.get("tool_choice", "auto")
    named = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    messages = _dicts(body.get("messages"))
    user_last = bool(messages) and messages[-1].get("role") == "user"
    tool = None if choice == "none" else _pick(tools, choice == "required", named, user_last)
    response_format = _schema(body.get("response_format"))
    schema = None
    if response_format.get("type") == "json_schema":
        schema = _schema(_schema(response_format.get("json_schema")).get("schema"))
    return Ask(
        tool=tool,
        schema=schema,
        json_object=response_format.get("type") == "json_object",
        reasoning=openai_reasons(model, body.get("reasoning_effort")),
    )


# --- OpenAI Responses ---------------------------------------------------------------------


def responses_ask(body: dict[str, Any], model: str) -> Ask:
    tools = [
        ToolSpec(str(tool.get("name", "")), _schema(tool.get("parameters")))
        for tool in _dicts(body.get("tools"))
        if tool.get("type") == "function"
    ]
    choice = body.get("tool_choice", "auto")
    named = choice.get("name") if isinstance(choice, dict) and choice.get("type") == "function" else None
    items = body.get("input")
    if isinstance(items, str):
        user_last = True
    else:
        listed = _dicts(items)
        user_last = bool(listed) and listed[-1].get("role") == "user"
    tool = None if choice == "none" else _pick(tools, choice == "required", named, user_last)
    text_format = _schema(_schema(body.get("text")).get("format"))
    reasoning = _schema(body.get("reasoning"))
    return Ask(
        tool=tool,
        schema=_schema(text_format.get("schema")) if text_format.get("type") == "json_schema" else None,
        json_object=text_format.get("type") == "json_object",
        reasoning=openai_reasons(model, reasoning.get("effort")),
        show_reasoning=reasoning.get("summary") is not None,
    )


# --- Anthropic Messages -------------------------------------------------------------------


def _is_tool_result(message: dict[str, Any]) -> bool:
    return any(block.get("type") == "tool_result" for block in _dicts(message.get("content")))


def anthropic_ask(body: dict[str, Any]) -> Ask:
    tools = [
        ToolSpec(str(tool.get("name", "")), _schema(tool.get("input_schema")))
        for tool in _dicts(body.get("tools"))
        # Server tools (web search, code execution...) carry a versioned type and no schema.
        if tool.get("type", "custom") == "custom"
    ]
    choice = _schema(body.get("tool_choice")) or {"type": "auto"}
    messages = _dicts(body.get("messages"))
    user_last = bool(messages) and messages[-1].get("role") == "user" and not _is_tool_result(messages[-1])
    named = choice.get("name") if choice.get("type") == "tool" else None
    tool = None if choice.get("type") == "none" else _pick(tools, choice.get("type") == "any", named, user_last)
    # `output_config.format` is the structured-output field; `output_format` its beta name.
    output = _schema(_schema(body.get("output_config")).get("format")) or _schema(body.get("output_format"))
    thinking = _schema(body.get("thinking")).get("type") in ("enabled", "adaptive")
    return Ask(
        tool=tool,
        schema=_schema(output.get("schema")) if output.get("type") == "json_schema" else None,
        reasoning=thinking,
        show_reasoning=thinking,
    )


# --- Gemini -------------------------------------------------------------------------------


def _proto(message: dict[str, Any], name: str, default: object = None) -> Any:
    """A field of a proto-JSON message: the API takes lowerCamel names and the proto's own
    snake_case ones alike, and google-genai sends some nested fields (`parameters_json_schema`,
    `include_thoughts`) in the latter."""
    if name in message:
        return message[name]
    return message.get(re.sub(r"([A-Z])", lambda upper: "_" + upper.group(1).lower(), name), default)


def gemini_ask(body: dict[str, Any], model: str) -> Ask:
    tools = [
        ToolSpec(
            str(declaration.get("name", "")),
            _schema(_proto(declaration, "parametersJsonSchema") or declaration.get("parameters")),
        )
        for tool in _dicts(body.get("tools"))
        for declaration in _dicts(_proto(tool, "functionDeclarations"))
    ]
    calling = _schema(_proto(_schema(_proto(body, "toolConfig")), "functionCallingConfig"))
    mode = str(calling.get("mode", "AUTO")).upper()
    allowed = _proto(calling, "allowedFunctionNames")
    named = allowed[0] if mode == "ANY" and isinstance(allowed, list) and allowed else None
    contents = _dicts(body.get("contents")) if not isinstance(body.get("contents"), dict) else [body["contents"]]
    last = contents[-1] if contents else {}
    answered = any(_proto(part, "functionResponse") is not None for part in _dicts(last.get("parts")))
    user_last = bool(contents) and last.get("role", "user") == "user" and not answered
    tool = None if mode == "NONE" else _pick(tools, mode == "ANY", named, user_last)
    config = _schema(_proto(body, "generationConfig"))
    as_json = str(_proto(config, "responseMimeType", "")).startswith("application/json")
    schema = _proto(config, "responseJsonSchema") or _proto(config, "responseSchema")
    thinking = _schema(_proto(config, "thinkingConfig"))
    budget = _proto(thinking, "thinkingBudget")
    thinks = budget != 0 and (
        bool(_proto(thinking, "includeThoughts"))
        or (isinstance(budget, int) and budget > 0)
        or any(marker in model for marker in GEMINI_THINKING_MARKERS)
    )
    return Ask(
        tool=tool,
        schema=_schema(schema) if as_json and isinstance(schema, dict) else None,
        json_object=as_json and not isinstance(schema, dict),
        reasoning=thinks,
        show_reasoning=thinks and bool(_proto(thinking, "includeThoughts")),
    )
