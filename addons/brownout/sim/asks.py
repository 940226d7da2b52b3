"""What a request asks of the model beyond prose: a tool call, a structured answer, reasoning.

The tools offered and the output format asked for are read by `brownout.classify.asks`, so the
simulator and the proxy's faults read a request alike; one reader per wire format adds which tool
the model calls and whether it reasons, into an `Ask`. The rule for tools is deterministic so
an agent loop can be rehearsed: a tool choice that requires a tool (OpenAI `required` or a named
function, Anthropic `any`/`tool`, Gemini mode `ANY`) always gets a call; with tools offered and
the choice left to the model, the model calls the first tool when the conversation ends with the
user's own words, and answers in text once it ends with a tool's result. `none` never calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from brownout.classify.asks import Asks
from brownout.classify.asks import asks_of
from brownout.classify.asks import proto_field

# Model families that reason before answering (OpenAI's o-series and gpt-5; Gemini 2.5 and later).
OPENAI_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "gpt-6")
OPENAI_NON_REASONING = ("-chat",)  # gpt-5-chat-latest and its kin answer without reasoning
GEMINI_THINKING_MARKERS = ("gemini-2.5", "gemini-3")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """The function the simulated model calls, with its parameters' JSON schema."""

    name: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Ask:
    tool: ToolSpec | None = None
    schema: Mapping[str, Any] | None = None  # the answer must be JSON this schema accepts
    json_object: bool = False  # the answer must be a JSON object, any object
    reasoning: bool = False  # the model reasons first (reasoning tokens are counted)
    show_reasoning: bool = False  # ... and the answer carries that reasoning as text


NOTHING = Ask()


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _pick(asks: Asks, forced: bool, name: str | None, model_turn: bool) -> ToolSpec | None:
    """The tool to call: the named one, else the first; None when the model answers in text."""
    if not asks.tools or not (forced or name or model_turn):
        return None
    if name:
        return ToolSpec(name, asks.tools[name]) if name in asks.tools else None
    first = next(iter(asks.tools))
    return ToolSpec(first, asks.tools[first])


def _ask(asks: Asks, tool: ToolSpec | None, reasoning: bool = False, show_reasoning: bool = False) -> Ask:
    """What the reader found of the output format (the one place all parts read it), with the
    tool the model calls and how it reasons."""
    return Ask(
        tool=tool,
        schema=asks.schema,
        json_object=asks.json and asks.schema is None,
        reasoning=reasoning,
        show_reasoning=show_reasoning,
    )


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
    asks = asks_of("openai", "chat", body)
    choice = body.get("tool_choice", "auto")
    named = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    messages = _dicts(body.get("messages"))
    user_last = bool(messages) and messages[-1].get("role") == "user"
    tool = None if choice == "none" else _pick(asks, choice == "required", named, user_last)
    return _ask(asks, tool, openai_reasons(model, body.get("reasoning_effort")))


# --- OpenAI Responses ---------------------------------------------------------------------


def responses_ask(body: dict[str, Any], model: str) -> Ask:
    asks = asks_of("openai", "responses", body)
    choice = body.get("tool_choice", "auto")
    named = choice.get("name") if isinstance(choice, dict) and choice.get("type") == "function" else None
    items = body.get("input")
    if isinstance(items, str):
        user_last = True
    else:
        listed = _dicts(items)
        user_last = bool(listed) and listed[-1].get("role") == "user"
    tool = None if choice == "none" else _pick(asks, choice == "required", named, user_last)
    reasoning = _schema(body.get("reasoning"))
    return _ask(
        asks, tool, openai_reasons(model, reasoning.get("effort")), show_reasoning=reasoning.get("summary") is not None
    )


# --- Anthropic Messages -------------------------------------------------------------------


def _is_tool_result(message: dict[str, Any]) -> bool:
    return any(block.get("type") == "tool_result" for block in _dicts(message.get("content")))


def anthropic_ask(body: dict[str, Any]) -> Ask:
    asks = asks_of("anthropic", "messages", body)
    choice = _schema(body.get("tool_choice")) or {"type": "auto"}
    messages = _dicts(body.get("messages"))
    user_last = bool(messages) and messages[-1].get("role") == "user" and not _is_tool_result(messages[-1])
    named = choice.get("name") if choice.get("type") == "tool" else None
    tool = None if choice.get("type") == "none" else _pick(asks, choice.get("type") == "any", named, user_last)
    thinking = _schema(body.get("thinking")).get("type") in ("enabled", "adaptive")
    return _ask(asks, tool, thinking, thinking)


# --- Gemini -------------------------------------------------------------------------------


def gemini_ask(body: dict[str, Any], model: str) -> Ask:
    asks = asks_of("gemini", "generate", body)
    calling = _schema(proto_field(_schema(proto_field(body, "toolConfig")), "functionCallingConfig"))
    mode = str(calling.get("mode", "AUTO")).upper()
    allowed = proto_field(calling, "allowedFunctionNames")
    named = allowed[0] if mode == "ANY" and isinstance(allowed, list) and allowed else None
    contents = _dicts(body.get("contents")) if not isinstance(body.get("contents"), dict) else [body["contents"]]
    last = contents[-1] if contents else {}
    answered = any(proto_field(part, "functionResponse") is not None for part in _dicts(last.get("parts")))
    user_last = bool(contents) and last.get("role", "user") == "user" and not answered
    tool = None if mode == "NONE" else _pick(asks, mode == "ANY", named, user_last)
    thinking = _schema(proto_field(_schema(proto_field(body, "generationConfig")), "thinkingConfig"))
    budget = proto_field(thinking, "thinkingBudget")
    thinks = budget != 0 and (
        bool(proto_field(thinking, "includeThoughts"))
        or (isinstance(budget, int) and budget > 0)
        or any(marker in model for marker in GEMINI_THINKING_MARKERS)
    )
    return _ask(asks, tool, thinks, thinks and bool(proto_field(thinking, "includeThoughts")))
