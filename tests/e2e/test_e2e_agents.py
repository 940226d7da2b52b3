"""The official SDKs, through brownout to the simulator, run what agents do: tool-calling loops,
structured output parsed into typed objects, reasoning models' answers with reasoning first."""

from __future__ import annotations

import json
import re
from typing import Any
from typing import Literal

import anthropic
import jsonschema
import openai
import pytest
from google import genai
from google.genai import types as genai_types
from pydantic import BaseModel

from brownout.cli.runner import RunningProxy
from conftest import StartProxy

NOT_FIRING = "rules:\n  - match: {model: never-used}\n    fault: {type: error, status: 500}\n"
QUESTION = "What is the weather in Paris?"
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "unit", "days"],
    "additionalProperties": False,
}


class Inner(BaseModel):
    label: str
    score: float


class Forecast(BaseModel):
    city: str
    kind: Literal["town", "city"]
    days: list[Inner]
    best: Inner | None
    warm: bool


@pytest.fixture
async def proxy(start_proxy: StartProxy) -> RunningProxy:
    return await start_proxy(NOT_FIRING)


def openai_client(proxy: RunningProxy) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0)


def anthropic_client(proxy: RunningProxy) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=f"{proxy.url}/anthropic", api_key="sk-ant-test", max_retries=0)


def gemini_client(proxy: RunningProxy) -> genai.Client:
    return genai.Client(api_key="g-test", http_options=genai_types.HttpOptions(base_url=f"{proxy.url}/gemini"))


# --- tool-calling loops -----------------------------------------------------------------------

CHAT_TOOLS: Any = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": True}},
    {"type": "function", "function": {"name": "other_tool", "parameters": {"type": "object", "properties": {}}}},
]


@pytest.mark.parametrize("streamed", [False, True])
async def test_openai_chat_tool_loop(proxy: RunningProxy, streamed: bool) -> None:
    client = openai_client(proxy)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    answers = []
    for _ in range(2):
        answer: Any
        if streamed:
            async with client.chat.completions.stream(model="gpt-4o", messages=messages, tools=CHAT_TOOLS) as stream:
                answer = await stream.get_final_completion()
        else:
            answer = await client.chat.completions.create(model="gpt-4o", messages=messages, tools=CHAT_TOOLS)
        answers.append(answer.choices[0])
        message = answer.choices[0].message
        messages.append(message.model_dump(exclude_none=True, exclude={"parsed"}))
        for call in message.tool_calls or []:
            assert call.type == "function"
            messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 degrees"})
    first, second = answers
    assert first.finish_reason == "tool_calls" and first.message.content is None
    assert first.message.tool_calls and len(first.message.tool_calls) == 1
    call = first.message.tool_calls[0]
    assert call.type == "function" and call.id.startswith("call_") and call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_SCHEMA)
    if streamed:  # the stream helper parses a strict tool's arguments from the deltas
        assert call.function.parsed_arguments == json.loads(call.function.arguments)
    assert second.finish_reason == "stop" and second.message.content and not second.message.tool_calls


async def test_openai_chat_forced_tool_choice(proxy: RunningProxy) -> None:
    client = openai_client(proxy)
    after_result: list[Any] = [
        {"role": "user", "content": QUESTION},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    required = await client.chat.completions.create(
        model="gpt-4o", messages=after_result, tools=CHAT_TOOLS, tool_choice="required"
    )
    assert required.choices[0].finish_reason == "tool_calls"
    named = await client.chat.completions.create(
        model="gpt-4o",
        messages=after_result,
        tools=CHAT_TOOLS,
        tool_choice={"type": "function", "function": {"name": "other_tool"}},
    )
    calls = named.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "other_tool" and calls[0].function.arguments == "{}"  # type: ignore[union-attr]
    none = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": QUESTION}], tools=CHAT_TOOLS, tool_choice="none"
    )
    assert none.choices[0].finish_reason == "stop" and none.choices[0].message.tool_calls is None


RESPONSES_TOOLS: Any = [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": True}]


async def responses_loop(client: openai.AsyncOpenAI, streamed: bool, **options: Any) -> tuple[list[Any], list[str]]:
    """Two turns of a Responses tool loop: the answers, and the streamed event types."""
    items: list[Any] = [{"role": "user", "content": QUESTION}]
    answers: list[Any] = []
    kinds: list[str] = []
    for _ in range(2):
        answer: Any
        if streamed:
            async with client.responses.stream(input=items, **options) as stream:
                kinds += [event.type async for event in stream]
                answer = await stream.get_final_response()
        else:
            answer = await client.responses.create(input=items, **options)
        answers.append(answer)
        for item in answer.output:
            items.append(item.model_dump(exclude_none=True, exclude={"parsed_arguments"}))
            if item.type == "function_call":
                items.append({"type": "function_call_output", "call_id": item.call_id, "output": "sunny"})
    return answers, kinds


@pytest.mark.parametrize("streamed", [False, True])
async def test_openai_responses_tool_loop(proxy: RunningProxy, streamed: bool) -> None:
    answers, kinds = await responses_loop(openai_client(proxy), streamed, model="gpt-4.1", tools=RESPONSES_TOOLS)
    first, second = answers
    assert [item.type for item in first.output] == ["function_call"]
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id.startswith("call_")
    assert call.id and call.id.startswith("fc_")
    jsonschema.validate(json.loads(call.arguments), WEATHER_SCHEMA)
    assert [item.type for item in second.output] == ["message"] and second.output_text
    assert first.model == "gpt-4.1-2025-04-14"
    if streamed:
        assert "response.function_call_arguments.delta" in kinds and "response.output_text.delta" in kinds


ANTHROPIC_TOOLS: Any = [
    {"name": "get_weather", "description": "Weather for a city.", "input_schema": WEATHER_SCHEMA},
    {"name": "other_tool", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}},
]


@pytest.mark.parametrize("streamed", [False, True])
async def test_anthropic_tool_loop(proxy: RunningProxy, streamed: bool) -> None:
    client = anthropic_client(proxy)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    answers = []
    for _ in range(2):
        answer: Any
        if streamed:
            async with client.messages.stream(
                model="claude-opus-4-5", max_tokens=1024, messages=messages, tools=ANTHROPIC_TOOLS
            ) as stream:
                answer = await stream.get_final_message()
        else:
            answer = await client.messages.create(
                model="claude-opus-4-5", max_tokens=1024, messages=messages, tools=ANTHROPIC_TOOLS
            )
        answers.append(answer)
        messages.append({"role": "assistant", "content": [block.model_dump() for block in answer.content]})
        results = [
            {"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}
            for block in answer.content
            if block.type == "tool_use"
        ]
        if results:
            messages.append({"role": "user", "content": results})
    first, second = answers
    assert first.stop_reason == "tool_use" and first.model == "claude-opus-4-5-20251101"
    block = first.content[0]
    assert block.type == "tool_use" and block.name == "get_weather"
    assert re.fullmatch(r"toolu_01[0-9A-Za-z]{22}", block.id)  # as the API's ids (docs/wire-formats.md)
    jsonschema.validate(block.input, WEATHER_SCHEMA)
    assert second.stop_reason == "end_turn" and second.content[0].type == "text" and second.content[0].text


async def test_anthropic_forced_tool_choice(proxy: RunningProxy) -> None:
    client = anthropic_client(proxy)
    answer = await client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=256,
        messages=[{"role": "user", "content": QUESTION}],
        tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "tool", "name": "other_tool"},
    )
    assert answer.stop_reason == "tool_use"
    assert answer.content[0].type == "tool_use" and answer.content[0].name == "other_tool"
    assert answer.content[0].input == {"q": "sample"}


def get_weather(city: str, days: int) -> str:
    """Weather for a city."""
    CALLS.append({"city": city, "days": days})
    return f"sunny in {city}"


# google-genai reads the declaration from the annotations, which `from __future__ import
# annotations` leaves as strings.
get_weather.__annotations__ = {"city": str, "days": int, "return": str}
CALLS: list[dict[str, Any]] = []


async def test_gemini_automatic_function_calling_loop(proxy: RunningProxy) -> None:
    """google-genai runs the function the model calls and sends its result back: a whole loop."""
    CALLS.clear()
    client = gemini_client(proxy)
    config = genai_types.GenerateContentConfig(tools=[get_weather])
    answer = await client.aio.models.generate_content(model="gemini-2.5-flash", contents=QUESTION, config=config)
    assert CALLS == [{"city": "sample", "days": 0}]
    history = answer.automatic_function_calling_history or []
    assert any(part.function_call for content in history for part in content.parts or [])
    assert any(part.function_response for content in history for part in content.parts or [])
    assert answer.text and answer.function_calls is None


@pytest.mark.parametrize("streamed", [False, True])
async def test_gemini_manual_function_calling_loop(proxy: RunningProxy, streamed: bool) -> None:
    client = gemini_client(proxy)
    declaration = genai_types.FunctionDeclaration(name="get_weather", parameters_json_schema=WEATHER_SCHEMA)
    config = genai_types.GenerateContentConfig(tools=[genai_types.Tool(function_declarations=[declaration])])
    contents: list[Any] = [genai_types.Content(role="user", parts=[genai_types.Part(text=QUESTION)])]
    answers = []
    for _ in range(2):
        answer: Any
        if streamed:
            chunks = [
                chunk
                async for chunk in await client.aio.models.generate_content_stream(
                    model="gemini-2.0-flash", contents=contents, config=config
                )
            ]
            calls = [call for chunk in chunks for call in chunk.function_calls or []]
            text = "".join(chunk.text or "" for chunk in chunks)
        else:
            answer = await client.aio.models.generate_content(
                model="gemini-2.0-flash", contents=contents, config=config
            )
            calls, text = answer.function_calls or [], answer.text or ""
        answers.append((calls, text))
        for call in calls:
            contents.append(genai_types.Content(role="model", parts=[genai_types.Part(function_call=call)]))
            contents.append(
                genai_types.Content(
                    role="user",
                    parts=[genai_types.Part.from_function_response(name="get_weather", response={"out": "sunny"})],
                )
            )
    (first_calls, _), (second_calls, second_text) = answers
    assert len(first_calls) == 1 and first_calls[0].name == "get_weather"
    jsonschema.validate(first_calls[0].args, WEATHER_SCHEMA)
    assert not second_calls and second_text


async def test_gemini_mode_any_forces_a_call(proxy: RunningProxy) -> None:
    client = gemini_client(proxy)
    declaration = genai_types.FunctionDeclaration(name="get_weather", parameters_json_schema=WEATHER_SCHEMA)
    answered: Any = [
        genai_types.Content(role="user", parts=[genai_types.Part(text=QUESTION)]),
        genai_types.Content(
            role="user", parts=[genai_types.Part.from_function_response(name="get_weather", response={"o": 1})]
        ),
    ]
    config = genai_types.GenerateContentConfig(
        tools=[genai_types.Tool(function_declarations=[declaration])],
        tool_config=genai_types.ToolConfig(
            function_calling_config=genai_types.FunctionCallingConfig(mode=genai_types.FunctionCallingConfigMode.ANY)
        ),
    )
    answer = await client.aio.models.generate_content(model="gemini-2.0-flash", contents=answered, config=config)
    assert answer.function_calls and answer.function_calls[0].name == "get_weather"


# --- structured output --------------------------------------------------------------------


def check_forecast(value: object) -> None:
    assert isinstance(value, Forecast)
    assert value.kind == "town" and value.days and isinstance(value.days[0], Inner) and value.best is not None


async def test_openai_chat_parse_returns_the_typed_object(proxy: RunningProxy) -> None:
    client = openai_client(proxy)
    messages: Any = [{"role": "user", "content": "Forecast, please."}]
    parsed = await client.chat.completions.parse(model="gpt-4o", messages=messages, response_format=Forecast)
    check_forecast(parsed.choices[0].message.parsed)
    async with client.chat.completions.stream(model="gpt-4o", messages=messages, response_format=Forecast) as stream:
        final = await stream.get_final_completion()
    check_forecast(final.choices[0].message.parsed)
    loose = await client.chat.completions.create(
        model="gpt-4o", messages=messages, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(loose.choices[0].message.content or ""), dict)


async def test_openai_responses_parse_returns_the_typed_object(proxy: RunningProxy) -> None:
    client = openai_client(proxy)
    parsed = await client.responses.parse(model="gpt-4o", input="Forecast, please.", text_format=Forecast)
    check_forecast(parsed.output_parsed)
    async with client.responses.stream(model="gpt-4o", input="Forecast, please.", text_format=Forecast) as stream:
        final = await stream.get_final_response()
    check_forecast(final.output_parsed)


async def test_anthropic_parse_returns_the_typed_object(proxy: RunningProxy) -> None:
    client = anthropic_client(proxy)
    parsed = await client.messages.parse(
        model="claude-opus-4-5",
        max_tokens=1024,
        messages=[{"role": "user", "content": "Forecast, please."}],
        output_format=Forecast,
    )
    check_forecast(parsed.parsed_output)


async def test_gemini_response_schema_gives_parsed(proxy: RunningProxy) -> None:
    client = gemini_client(proxy)
    config = genai_types.GenerateContentConfig(response_mime_type="application/json", response_schema=Forecast)
    answer = await client.aio.models.generate_content(model="gemini-2.0-flash", contents="Forecast.", config=config)
    check_forecast(answer.parsed)
    as_json_schema = genai_types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=Forecast.model_json_schema()
    )
    answer = await client.aio.models.generate_content(
        model="gemini-2.0-flash", contents="Forecast.", config=as_json_schema
    )
    check_forecast(Forecast.model_validate_json(answer.text or ""))


# --- reasoning ----------------------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True])
async def test_openai_reasoning_item_comes_first(proxy: RunningProxy, streamed: bool) -> None:
    client = openai_client(proxy)
    reasoning: Any = {"effort": "low", "summary": "auto"}
    answer: Any
    if streamed:
        async with client.responses.stream(model="o4-mini", input=QUESTION, reasoning=reasoning) as stream:
            kinds = [event.type async for event in stream]
            answer = await stream.get_final_response()
        assert kinds.index("response.reasoning_summary_text.delta") < kinds.index("response.output_text.delta")
    else:
        answer = await client.responses.create(model="o4-mini", input=QUESTION, reasoning=reasoning)
    assert [item.type for item in answer.output] == ["reasoning", "message"]
    first = answer.output[0]
    assert first.type == "reasoning" and first.id.startswith("rs_") and first.summary and first.summary[0].text
    assert answer.output_text and answer.model == "o4-mini-2025-04-16"
    assert answer.usage and answer.usage.output_tokens_details.reasoning_tokens > 0
    assert answer.usage.output_tokens > answer.usage.output_tokens_details.reasoning_tokens
    chat = await client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": QUESTION}])
    assert chat.model == "gpt-5-2025-08-07"
    assert chat.usage and chat.usage.completion_tokens_details
    assert chat.usage.completion_tokens_details.reasoning_tokens


@pytest.mark.parametrize("streamed", [False, True])
async def test_anthropic_thinking_block_comes_first(proxy: RunningProxy, streamed: bool) -> None:
    client = anthropic_client(proxy)
    arguments: Any = {
        "model": "claude-opus-4-5",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": QUESTION}],
    }
    if streamed:
        async with client.messages.stream(**arguments) as stream:
            kinds = [event.type async for event in stream]
            answer = await stream.get_final_message()
        assert "thinking" in kinds and "signature" in kinds
    else:
        answer = await client.messages.create(**arguments)
    assert [block.type for block in answer.content] == ["thinking", "text"]
    thinking = answer.content[0]
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    # A tool call after thinking: the loop keeps the thinking block first.
    with_tool = await client.messages.create(**arguments, tools=ANTHROPIC_TOOLS)
    assert [block.type for block in with_tool.content] == ["thinking", "tool_use"]


@pytest.mark.parametrize("streamed", [False, True])
async def test_gemini_thought_parts_come_first(proxy: RunningProxy, streamed: bool) -> None:
    client = gemini_client(proxy)
    config = genai_types.GenerateContentConfig(thinking_config=genai_types.ThinkingConfig(include_thoughts=True))
    if streamed:
        chunks = [
            chunk
            async for chunk in await client.aio.models.generate_content_stream(
                model="gemini-2.5-flash", contents=QUESTION, config=config
            )
        ]
        parts = [part for chunk in chunks for part in (chunk.candidates or [])[0].content.parts or []]  # type: ignore[union-attr]
        usage = chunks[-1].usage_metadata
    else:
        answer = await client.aio.models.generate_content(model="gemini-2.5-flash", contents=QUESTION, config=config)
        parts = answer.candidates[0].content.parts or []  # type: ignore[index,union-attr]
        usage = answer.usage_metadata
    assert parts[0].thought is True and parts[0].text
    assert parts[-1].thought is None and parts[-1].text
    assert usage and usage.thoughts_token_count
    assert usage.total_token_count == (
        (usage.prompt_token_count or 0) + (usage.candidates_token_count or 0) + usage.thoughts_token_count
    )


# --- faults in the middle of a tool call ------------------------------------------------------

MID_CALL = "rules:\n  - match: {stream: true}\n    fault: {type: stream_error, after_events: 3}\n"


async def test_a_stream_error_mid_tool_call_reaches_each_sdk(start_proxy: StartProxy) -> None:
    """The argument deltas are events like any other: a stream_error after a few of them raises."""
    proxy = await start_proxy(MID_CALL)
    messages: Any = [{"role": "user", "content": QUESTION}]
    with pytest.raises(openai.APIError):
        async with openai_client(proxy).chat.completions.stream(
            model="gpt-4o", messages=messages, tools=CHAT_TOOLS
        ) as stream:
            await stream.get_final_completion()
    with pytest.raises(anthropic.APIStatusError) as info:
        async with anthropic_client(proxy).messages.stream(
            model="claude-opus-4-5", max_tokens=256, messages=messages, tools=ANTHROPIC_TOOLS
        ) as claude_stream:
            await claude_stream.get_final_message()
    assert info.value.status_code == 200 and info.value.type == "overloaded_error"


@pytest.mark.parametrize("streamed", [False, True])
async def test_stateless_reasoning_loop_carries_encrypted_reasoning(proxy: RunningProxy, streamed: bool) -> None:
    """store=false with include=reasoning.encrypted_content: the reasoning item comes back with
    opaque content, and sending it on with the tool result completes the loop."""
    options: Any = {"store": False, "include": ["reasoning.encrypted_content"], "tools": RESPONSES_TOOLS}
    answers, _ = await responses_loop(openai_client(proxy), streamed, model="gpt-5", **options)
    first, second = answers
    assert [item.type for item in first.output] == ["reasoning", "function_call"]
    assert first.output[0].encrypted_content and first.output[0].summary == []
    assert [item.type for item in second.output] == ["reasoning", "message"] and second.output_text
