"""What each wire format's request asks for: which tool, which schema, whether the model reasons."""

from __future__ import annotations

from typing import Any

import pytest

from brownout.sim.asks import anthropic_ask
from brownout.sim.asks import chat_ask
from brownout.sim.asks import gemini_ask
from brownout.sim.asks import responses_ask
from brownout.sim.snapshots import snapshot

PARAMS = {"type": "object", "properties": {"q": {"type": "string"}}}
USER = {"role": "user", "content": "hi"}


def chat(**fields: Any) -> dict[str, Any]:
    tools = [{"type": "function", "function": {"name": name, "parameters": PARAMS}} for name in ("first", "second")]
    return {"model": "gpt-4o", "messages": [USER], "tools": tools, **fields}


@pytest.mark.parametrize(
    ("fields", "called"),
    [
        ({}, "first"),
        ({"tool_choice": "none"}, None),
        ({"messages": [USER, {"role": "tool", "tool_call_id": "c", "content": "x"}]}, None),
        (
            {"messages": [USER, {"role": "tool", "tool_call_id": "c", "content": "x"}], "tool_choice": "required"},
            "first",
        ),
        ({"tool_choice": {"type": "function", "function": {"name": "second"}}}, "second"),
        ({"tools": []}, None),
    ],
)
def test_chat_tool_rule(fields: dict[str, Any], called: str | None) -> None:
    ask = chat_ask(chat(**fields), "gpt-4o")
    assert (ask.tool.name if ask.tool else None) == called


def test_chat_structured_output_and_reasoning() -> None:
    schema = {"type": "object", "properties": {}}
    formatted = chat_ask(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}, "gpt-4o"
    )
    assert formatted.schema == schema and not formatted.reasoning
    assert chat_ask({"response_format": {"type": "json_object"}}, "gpt-4o").json_object
    assert chat_ask({}, "o3-mini").reasoning and chat_ask({}, "gpt-5").reasoning
    assert not chat_ask({}, "gpt-5-chat-latest").reasoning
    assert not chat_ask({"reasoning_effort": "none"}, "gpt-5.1").reasoning


def test_responses_reads_flat_tools_function_call_outputs_and_reasoning_summaries() -> None:
    tools = [{"type": "function", "name": "lookup", "parameters": PARAMS}, {"type": "web_search"}]
    assert responses_ask({"input": "hi", "tools": tools}, "gpt-4.1").tool is not None
    answered = [USER, {"type": "function_call_output", "call_id": "c", "output": "x"}]
    assert responses_ask({"input": answered, "tools": tools}, "gpt-4.1").tool is None
    text = {"format": {"type": "json_schema", "name": "x", "schema": PARAMS}}
    assert responses_ask({"input": "hi", "text": text}, "gpt-4.1").schema == PARAMS
    summarised = responses_ask({"input": "hi", "reasoning": {"effort": "low", "summary": "auto"}}, "o4-mini")
    assert summarised.reasoning and summarised.show_reasoning


def test_anthropic_tool_choice_tool_results_thinking_and_output_format() -> None:
    tools = [{"name": "first", "input_schema": PARAMS}, {"type": "web_search_20250305", "name": "web_search"}]
    base = {"messages": [USER], "tools": tools}
    assert anthropic_ask(base).tool is not None
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}
    assert anthropic_ask({**base, "messages": [USER, result]}).tool is None
    assert anthropic_ask({**base, "messages": [USER, result], "tool_choice": {"type": "any"}}).tool is not None
    assert anthropic_ask({**base, "tool_choice": {"type": "none"}}).tool is None
    thinking = anthropic_ask({"thinking": {"type": "enabled", "budget_tokens": 1024}})
    assert thinking.reasoning and thinking.show_reasoning
    structured = anthropic_ask({"output_config": {"format": {"type": "json_schema", "schema": PARAMS}}})
    assert structured.schema == PARAMS


def test_gemini_modes_function_responses_and_both_field_spellings() -> None:
    declarations = [{"name": "first", "parameters_json_schema": PARAMS}]
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": declarations}],
    }
    ask = gemini_ask(body, "gemini-2.0-flash")
    assert ask.tool is not None and ask.tool.parameters == PARAMS
    answered = {
        **body,
        "contents": [*body["contents"], {"role": "user", "parts": [{"functionResponse": {"name": "first"}}]}],
    }
    assert gemini_ask(answered, "gemini-2.0-flash").tool is None
    forced = {**answered, "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}
    assert gemini_ask(forced, "gemini-2.0-flash").tool is not None
    config = {
        "responseMimeType": "application/json",
        "responseSchema": PARAMS,
        "thinking_config": {"include_thoughts": True},
    }
    structured = gemini_ask({"generationConfig": config}, "gemini-2.0-flash")
    assert structured.schema == PARAMS and structured.show_reasoning
    assert not gemini_ask({"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}, "gemini-2.5-flash").reasoning


def test_snapshot_names() -> None:
    assert snapshot("gpt-5") == "gpt-5-2025-08-07"
    assert snapshot("gpt-4o") == "gpt-4o-2024-08-06"
    assert snapshot("claude-sonnet-4-5") == "claude-sonnet-4-5-20250929"
    assert snapshot("gpt-4o-2024-05-13") == "gpt-4o-2024-05-13"
    assert snapshot("my-fine-tune") == "my-fine-tune"
