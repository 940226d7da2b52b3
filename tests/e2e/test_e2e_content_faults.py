"""Faults inside valid answers, as the official SDKs and LangChain see them through brownout.

Each fault rewrites the simulator's real answer (a 200), so what a test asserts is what the client
library does with it: the openai SDK's `parse` helpers raise their validation errors, a tool loop
meets arguments that do not parse or a tool nobody offered, the anthropic SDK reports
`max_tokens` with the cut text, google-genai `MAX_TOKENS` and `SAFETY`. Every fault is tried
streamed and not. A fault matches one model only; the same question to another model gives the
untouched answer to compare with (the simulator's text depends on the question alone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from typing import Literal

import anthropic
import jsonschema
import openai
import pydantic
import pytest
from google.genai import types as genai_types
from langchain_core.messages import AIMessage
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from brownout.cli.runner import RunningProxy
from conftest import StartProxy
from e2e.test_e2e_agents import ANTHROPIC_TOOLS
from e2e.test_e2e_agents import CHAT_TOOLS
from e2e.test_e2e_agents import QUESTION
from e2e.test_e2e_agents import WEATHER_SCHEMA
from e2e.test_e2e_agents import Forecast
from e2e.test_e2e_agents import anthropic_client
from e2e.test_e2e_agents import gemini_client
from e2e.test_e2e_agents import openai_client

STREAMED = pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
# The model each fault matches, and another the same question goes to untouched.
FAULTED = {"openai": "gpt-4o", "anthropic": "claude-opus-4-5", "gemini": "gemini-2.5-flash"}
CLEAN = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.0-flash"}
ASK: Any = [{"role": "user", "content": QUESTION}]


def scenario(fault: str, *providers: str) -> str:
    """One rule per provider, each matching that provider's faulted model."""
    rules = "".join(
        f"  - match: {{provider: {provider}, model: {FAULTED[provider]}}}\n    fault: {fault}\n"
        for provider in providers
    )
    return "rules:\n" + rules


async def proxy_with(start_proxy: StartProxy, fault: str, *providers: str) -> RunningProxy:
    return await start_proxy(scenario(fault, *(providers or ("openai",))))


# --- the openai SDK ---------------------------------------------------------------------------


async def chat(client: openai.AsyncOpenAI, model: str, streamed: bool, messages: Any = ASK, **options: Any) -> Any:
    """One chat completion, whole or through the SDK's stream helper (which assembles the same type)."""
    if not streamed:
        return await client.chat.completions.create(model=model, messages=messages, **options)
    async with client.chat.completions.stream(model=model, messages=messages, **options) as stream:
        return await stream.get_final_completion()


@dataclass(frozen=True)
class Said:
    """What a chat answer said, read from the body or from the raw chunks of its stream."""

    text: str
    finish: str | None
    extra: dict[str, Any]  # the choice's fields the SDK has no name for (Azure's filter results)


async def chat_said(client: openai.AsyncOpenAI, model: str, streamed: bool) -> Said:
    if not streamed:
        choice = (await client.chat.completions.create(model=model, messages=ASK)).choices[0]
        return Said(choice.message.content or "", choice.finish_reason, choice.model_extra or {})
    text, finish, extra = "", None, {}
    async for chunk in await client.chat.completions.create(model=model, messages=ASK, stream=True):
        for choice in chunk.choices:
            text += choice.delta.content or ""
            if choice.finish_reason:
                finish, extra = choice.finish_reason, choice.model_extra or {}
    return Said(text, finish, extra)


async def chat_parse(client: openai.AsyncOpenAI, streamed: bool, **options: Any) -> Any:
    model = FAULTED["openai"]
    if not streamed:
        return await client.chat.completions.parse(model=model, messages=ASK, **options)
    async with client.chat.completions.stream(model=model, messages=ASK, **options) as stream:
        return await stream.get_final_completion()


async def responses_parse(client: openai.AsyncOpenAI, streamed: bool, **options: Any) -> Any:
    model = FAULTED["openai"]
    if not streamed:
        return await client.responses.parse(model=model, input=QUESTION, **options)
    async with client.responses.stream(model=model, input=QUESTION, **options) as stream:
        return await stream.get_final_response()


@STREAMED
@pytest.mark.parametrize("mode", ["not_json", "schema_violation"])
async def test_chat_parse_raises_the_validation_error(start_proxy: StartProxy, streamed: bool, mode: str) -> None:
    proxy = await proxy_with(start_proxy, f"{{type: bad_structured_output, mode: {mode}}}")
    client = openai_client(proxy)
    if streamed and mode == "not_json":
        # The stream helper parses the content as it comes (jiter, partial mode): the first delta
        # that is no JSON raises jiter's ValueError mid-stream, before pydantic sees anything.
        with pytest.raises(ValueError, match="expected value") as raised_early:
            await chat_parse(client, streamed, response_format=Forecast)
        assert not isinstance(raised_early.value, pydantic.ValidationError)
    else:
        with pytest.raises(pydantic.ValidationError) as raised:
            await chat_parse(client, streamed, response_format=Forecast)
        kinds = {error["type"] for error in raised.value.errors()}
        assert kinds == {"json_invalid"} if mode == "not_json" else "json_invalid" not in kinds, raised.value
    # The loose JSON mode too: the app's own json.loads fails, or the object breaks the schema.
    loose = await chat(client, FAULTED["openai"], streamed, response_format={"type": "json_object"})
    content = loose.choices[0].message.content or ""
    assert loose.choices[0].finish_reason == "stop"
    if mode == "not_json":
        with pytest.raises(json.JSONDecodeError):
            json.loads(content)
    else:
        json.loads(content)  # JSON still (what breaks is the shape asked for)


@STREAMED
@pytest.mark.parametrize("mode", ["not_json", "schema_violation"])
async def test_responses_parse_raises_the_validation_error(start_proxy: StartProxy, streamed: bool, mode: str) -> None:
    proxy = await proxy_with(start_proxy, f"{{type: bad_structured_output, mode: {mode}}}")
    with pytest.raises(pydantic.ValidationError) as raised:
        await responses_parse(openai_client(proxy), streamed, text_format=Forecast)
    kinds = {error["type"] for error in raised.value.errors()}
    assert kinds == {"json_invalid"} if mode == "not_json" else "json_invalid" not in kinds, raised.value


async def test_structured_output_untouched_without_a_schema(start_proxy: StartProxy) -> None:
    """bad_structured_output acts on requests that asked for JSON; plain chat passes whole."""
    proxy = await proxy_with(start_proxy, "{type: bad_structured_output, mode: not_json}")
    client = openai_client(proxy)
    plain = await chat(client, FAULTED["openai"], False)
    clean = await chat(client, CLEAN["openai"], False)
    assert plain.choices[0].message.content == clean.choices[0].message.content


TOOLS_BY_NAME = {"get_weather", "other_tool"}


async def openai_tool_loop(client: openai.AsyncOpenAI, streamed: bool) -> str:
    """What an app's tool loop does: run each call the model asks for, by name, with its JSON
    arguments checked against the tool's schema, and send the results back until an answer."""
    messages: list[Any] = list(ASK)
    for _ in range(3):
        answer = await chat(client, FAULTED["openai"], streamed, messages, tools=CHAT_TOOLS)
        message = answer.choices[0].message
        if not message.tool_calls:
            return str(message.content)
        messages.append(message.model_dump(exclude_none=True, exclude={"parsed"}))
        for call in message.tool_calls:
            if call.function.name not in TOOLS_BY_NAME:
                raise KeyError(call.function.name)
            arguments = json.loads(call.function.arguments)
            if call.function.name == "get_weather":
                jsonschema.validate(arguments, WEATHER_SCHEMA)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
    raise AssertionError("the loop never ended")


BAD_CALL_RAISES: dict[str, type[Exception]] = {
    "bad_json": json.JSONDecodeError,
    "missing_argument": jsonschema.ValidationError,
    "unknown_tool": KeyError,
}


@STREAMED
@pytest.mark.parametrize("mode", list(BAD_CALL_RAISES))
async def test_openai_tool_loop_meets_the_bad_call(start_proxy: StartProxy, streamed: bool, mode: str) -> None:
    proxy = await proxy_with(start_proxy, f"{{type: bad_tool_call, mode: {mode}}}")
    # Streamed, the SDK's helper parses a strict tool's arguments itself as they come (jiter, in
    # partial mode): bad JSON raises jiter's ValueError there, before the app's json.loads.
    expected = ValueError if streamed and mode == "bad_json" else BAD_CALL_RAISES[mode]
    with pytest.raises(expected) as raised:
        await openai_tool_loop(openai_client(proxy), streamed)
    if expected is ValueError:
        assert not isinstance(raised.value, json.JSONDecodeError)
    if mode == "missing_argument":
        assert "is a required property" in raised.value.message  # type: ignore[attr-defined]


async def test_openai_tool_loop_completes_without_the_fault(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(scenario("{type: bad_tool_call, mode: bad_json}", "anthropic"))
    assert await openai_tool_loop(openai_client(proxy), streamed=True)


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"], days: int) -> str:
    """Weather for a city."""
    return f"sunny in {city} for {days} days ({unit})"


async def langchain_answer(proxy: RunningProxy, streamed: bool) -> AIMessage:
    model = ChatOpenAI(
        model=FAULTED["openai"],
        base_url=f"{proxy.url}/openai/v1",
        api_key="sk-test",
        max_retries=0,  # type: ignore[arg-type]
    ).bind_tools([get_weather])
    if not streamed:
        answer = await model.ainvoke(QUESTION)
        assert isinstance(answer, AIMessage)
        return answer
    whole: AIMessageChunk | None = None
    async for chunk in model.astream(QUESTION):
        assert isinstance(chunk, AIMessageChunk)
        whole = chunk if whole is None else whole + chunk
    assert whole is not None
    return whole


@STREAMED
async def test_langchain_tool_call_is_whole_without_the_fault(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await start_proxy(scenario("{type: bad_tool_call, mode: bad_json}", "anthropic"))
    answer = await langchain_answer(proxy, streamed)
    assert not answer.invalid_tool_calls and [call["name"] for call in answer.tool_calls] == ["get_weather"]
    assert await get_weather.ainvoke(answer.tool_calls[0])


@STREAMED
async def test_langchain_sees_arguments_that_do_not_parse(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await proxy_with(start_proxy, "{type: bad_tool_call, mode: bad_json}")
    answer = await langchain_answer(proxy, streamed)
    assert answer.tool_calls == [], answer.tool_calls
    assert len(answer.invalid_tool_calls) == 1
    invalid = answer.invalid_tool_calls[0]
    assert invalid["name"] == "get_weather" and invalid["args"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(invalid["args"])


@STREAMED
async def test_langchain_tool_refuses_a_missing_argument(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await proxy_with(start_proxy, "{type: bad_tool_call, mode: missing_argument}")
    answer = await langchain_answer(proxy, streamed)
    assert not answer.invalid_tool_calls and len(answer.tool_calls) == 1
    call = answer.tool_calls[0]
    assert call["name"] == "get_weather" and not {"city", "unit", "days"} <= set(call["args"])
    with pytest.raises(pydantic.ValidationError):
        await get_weather.ainvoke(call)  # what an agent's tool node does with the call


@STREAMED
async def test_langchain_gets_a_tool_it_never_bound(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await proxy_with(start_proxy, "{type: bad_tool_call, mode: unknown_tool}")
    answer = await langchain_answer(proxy, streamed)
    assert len(answer.tool_calls) == 1 and answer.tool_calls[0]["name"] != "get_weather"


@STREAMED
async def test_openai_chat_stops_at_the_length_limit(start_proxy: StartProxy, streamed: bool) -> None:
    client = openai_client(await proxy_with(start_proxy, "{type: truncate, tokens: 5}"))
    cut = await chat_said(client, FAULTED["openai"], streamed)
    whole = await chat_said(client, CLEAN["openai"], streamed)
    assert cut.finish == "length" and whole.finish == "stop"
    assert cut.text and whole.text.startswith(cut.text) and len(cut.text) < len(whole.text)
    with pytest.raises(openai.LengthFinishReasonError):
        await chat_parse(client, streamed, response_format=Forecast)
    if streamed:  # the stream helper raises it even when no format was asked for
        with pytest.raises(openai.LengthFinishReasonError):
            await chat(client, FAULTED["openai"], streamed)


@STREAMED
async def test_openai_chat_content_filter_stop(start_proxy: StartProxy, streamed: bool) -> None:
    client = openai_client(await proxy_with(start_proxy, "{type: content_filter}"))
    filtered = await chat_said(client, FAULTED["openai"], streamed)
    assert filtered.finish == "content_filter" and not filtered.text
    with pytest.raises(openai.ContentFilterFinishReasonError):
        await chat_parse(client, streamed, response_format=Forecast)


async def responses_answer(client: openai.AsyncOpenAI, model: str, streamed: bool) -> Any:
    """The Response: the body, or the one the stream's last lifecycle event carries."""
    if not streamed:
        return await client.responses.create(model=model, input=QUESTION)
    async with client.responses.stream(model=model, input=QUESTION) as stream:
        ends = [event async for event in stream if event.type in ("response.completed", "response.incomplete")]
        assert len(ends) == 1, ends
        if ends[0].type == "response.incomplete":
            # openai-python's helper keeps a final response for `response.completed` alone.
            with pytest.raises(RuntimeError, match="response.completed"):
                await stream.get_final_response()
        return ends[0].response


@STREAMED
async def test_responses_incomplete_at_max_output_tokens(start_proxy: StartProxy, streamed: bool) -> None:
    # A body's length is known, so a fraction of it can be kept; a stream's is not (a fraction
    # there is of the request's output limit), so it is cut at a count of tokens.
    fault = "{type: truncate, tokens: 5}" if streamed else "{type: truncate, fraction: 0.5}"
    client = openai_client(await proxy_with(start_proxy, fault))
    cut = await responses_answer(client, FAULTED["openai"], streamed)
    whole = await responses_answer(client, CLEAN["openai"], streamed)
    assert cut.status == "incomplete" and cut.incomplete_details and whole.status == "completed"
    assert cut.incomplete_details.reason == "max_output_tokens"
    assert cut.output_text and whole.output_text.startswith(cut.output_text)
    assert len(cut.output_text) < len(whole.output_text)


@STREAMED
async def test_responses_incomplete_for_the_content_filter(start_proxy: StartProxy, streamed: bool) -> None:
    client = openai_client(await proxy_with(start_proxy, "{type: content_filter}"))
    answer = await responses_answer(client, FAULTED["openai"], streamed)
    assert answer.status == "incomplete" and answer.incomplete_details
    assert answer.incomplete_details.reason == "content_filter"


def azure_client(proxy: RunningProxy) -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(
        azure_endpoint=f"{proxy.url}/azure/myres.openai.azure.com",
        api_key="az-test",
        api_version="2024-10-21",
        max_retries=0,
    )


@STREAMED
async def test_azure_filter_stop_names_the_filtered_category(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await start_proxy("rules:\n  - match: {provider: azure}\n    fault: {type: content_filter}\n")
    said = await chat_said(azure_client(proxy), "gpt4o-deployment", streamed)
    assert said.finish == "content_filter"
    results = said.extra.get("content_filter_results") or {}
    assert any(result.get("filtered") for result in results.values()), results


async def test_azure_filter_error_is_the_sdks_bad_request(start_proxy: StartProxy) -> None:
    proxy = await start_proxy("rules:\n  - match: {provider: azure}\n    fault: {type: content_filter, mode: error}\n")
    with pytest.raises(openai.BadRequestError) as raised:
        await chat(azure_client(proxy), "gpt4o-deployment", False)
    assert raised.value.code == "content_filter"


@STREAMED
async def test_openai_refusal_field(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await proxy_with(start_proxy, "{type: refusal}")
    client = openai_client(proxy)
    answer = await chat_parse(client, streamed, response_format=Forecast)
    message = answer.choices[0].message
    assert message.refusal and message.content is None and message.parsed is None
    assert answer.choices[0].finish_reason == "stop"


@STREAMED
async def test_refusal_on_responses_and_anthropic(start_proxy: StartProxy, streamed: bool) -> None:
    """Responses has a refusal content part; Anthropic has no refusal field, so the refusal is the
    text, with the normal end of a turn."""
    proxy = await proxy_with(start_proxy, "{type: refusal}", "openai", "anthropic")
    answer = await responses_answer(openai_client(proxy), FAULTED["openai"], streamed)
    parts = [part for item in answer.output if item.type == "message" for part in item.content]
    assert [part.type for part in parts] == ["refusal"] and parts[0].refusal and not answer.output_text
    client = anthropic_client(proxy)
    refused, whole = [await claude(client, model, streamed) for model in (FAULTED["anthropic"], CLEAN["anthropic"])]
    assert refused.stop_reason == "end_turn" and claude_text(refused) and claude_text(refused) != claude_text(whole)


@STREAMED
async def test_empty_answer_reaches_openai_and_anthropic(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await proxy_with(start_proxy, "{type: empty_answer}", "openai", "anthropic")
    empty = await chat(openai_client(proxy), FAULTED["openai"], streamed)
    assert empty.choices[0].finish_reason == "stop" and not empty.choices[0].message.content
    assert empty.usage is None or empty.usage.completion_tokens == 0
    message = await claude(anthropic_client(proxy), FAULTED["anthropic"], streamed)
    assert message.stop_reason == "end_turn"
    assert "".join(block.text for block in message.content if block.type == "text") == ""
    assert message.usage.output_tokens == 0


@STREAMED
async def test_usage_spike_and_missing_usage(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await proxy_with(start_proxy, "{type: usage_spike, factor: 10}")
    client = openai_client(proxy)
    options: Any = {"stream_options": {"include_usage": True}} if streamed else {}
    spiked = await chat(client, FAULTED["openai"], streamed, **options)
    plain = await chat(client, CLEAN["openai"], streamed, **options)
    assert spiked.usage and plain.usage
    assert spiked.usage.completion_tokens == 10 * plain.usage.completion_tokens
    assert spiked.usage.prompt_tokens == 10 * plain.usage.prompt_tokens
    assert spiked.usage.total_tokens == spiked.usage.prompt_tokens + spiked.usage.completion_tokens
    assert spiked.choices[0].message.content == plain.choices[0].message.content
    missing = await chat(
        openai_client(await proxy_with(start_proxy, "{type: usage_missing}")), FAULTED["openai"], streamed, **options
    )
    assert missing.usage is None and missing.choices[0].message.content


# --- the anthropic SDK --------------------------------------------------------------------------


async def claude(client: anthropic.AsyncAnthropic, model: str, streamed: bool) -> anthropic.types.Message:
    if not streamed:
        return await client.messages.create(model=model, max_tokens=1024, messages=ASK)
    async with client.messages.stream(model=model, max_tokens=1024, messages=ASK) as stream:
        return await stream.get_final_message()


def claude_text(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


@STREAMED
async def test_anthropic_max_tokens_with_the_cut_text(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await proxy_with(start_proxy, "{type: truncate, tokens: 5}", "anthropic")
    client = anthropic_client(proxy)
    cut = await claude(client, FAULTED["anthropic"], streamed)
    whole = await claude(client, CLEAN["anthropic"], streamed)
    assert cut.stop_reason == "max_tokens" and whole.stop_reason == "end_turn"
    assert claude_text(cut) and claude_text(whole).startswith(claude_text(cut))
    assert len(claude_text(cut)) < len(claude_text(whole))
    assert 0 < cut.usage.output_tokens < whole.usage.output_tokens


@STREAMED
async def test_anthropic_safety_stop(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await proxy_with(start_proxy, "{type: content_filter}", "anthropic")
    message = await claude(anthropic_client(proxy), FAULTED["anthropic"], streamed)
    assert message.stop_reason == "refusal"


# Anthropic and Gemini carry a call's arguments as a JSON object, parsed by the provider, so the
# faithful breaks there are a missing argument and a tool nobody offered.
OBJECT_ARGUMENT_BREAKS = pytest.mark.parametrize("mode", ["missing_argument", "unknown_tool"])


def check_bad_call(mode: str, name: str, arguments: dict[str, Any]) -> None:
    """What the app's dispatch meets: a name it has no function for, or arguments its schema refuses."""
    if mode == "unknown_tool":
        assert name not in TOOLS_BY_NAME and set(arguments) == {"city", "unit", "days"}
    else:
        assert name == "get_weather"
        with pytest.raises(jsonschema.ValidationError, match="is a required property"):
            jsonschema.validate(arguments, WEATHER_SCHEMA)


@STREAMED
@OBJECT_ARGUMENT_BREAKS
async def test_anthropic_tool_use_is_the_bad_call(start_proxy: StartProxy, streamed: bool, mode: str) -> None:
    client = anthropic_client(await proxy_with(start_proxy, f"{{type: bad_tool_call, mode: {mode}}}", "anthropic"))
    request: Any = {"model": FAULTED["anthropic"], "max_tokens": 1024, "messages": ASK, "tools": ANTHROPIC_TOOLS}
    if streamed:
        async with client.messages.stream(**request) as stream:
            message = await stream.get_final_message()
    else:
        message = await client.messages.create(**request)
    calls = [block for block in message.content if block.type == "tool_use"]
    assert message.stop_reason == "tool_use" and len(calls) == 1
    assert isinstance(calls[0].input, dict)
    check_bad_call(mode, calls[0].name, calls[0].input)


@STREAMED
async def test_anthropic_bad_json_only_on_a_stream(start_proxy: StartProxy, streamed: bool) -> None:
    """Anthropic parses a whole answer's call itself (`input` is an object), so JSON that does not
    parse reaches a client only as a stream's `input_json_delta`: there the SDK's stream raises,
    while a whole answer keeps the model's call (`bad_json` not applied)."""
    client = anthropic_client(await proxy_with(start_proxy, "{type: bad_tool_call, mode: bad_json}", "anthropic"))
    request: Any = {"model": FAULTED["anthropic"], "max_tokens": 1024, "messages": ASK, "tools": ANTHROPIC_TOOLS}
    if streamed:
        with pytest.raises(ValueError, match="Unable to parse tool parameter JSON"):
            async with client.messages.stream(**request) as stream:
                await stream.get_final_message()
        return
    message = await client.messages.create(**request)
    [call] = [block for block in message.content if block.type == "tool_use"]
    assert call.name == "get_weather" and isinstance(call.input, dict)
    jsonschema.validate(call.input, WEATHER_SCHEMA)


# --- google-genai -------------------------------------------------------------------------------


async def gemini(proxy: RunningProxy, model: str, streamed: bool) -> tuple[str, Any, list[Any]]:
    """The text, the last finish reason and the safety ratings google-genai gives."""
    client = gemini_client(proxy)
    if streamed:
        chunks = [
            chunk async for chunk in await client.aio.models.generate_content_stream(model=model, contents=QUESTION)
        ]
    else:
        chunks = [await client.aio.models.generate_content(model=model, contents=QUESTION)]
    await client.aio.aclose()
    candidates = [candidate for chunk in chunks for candidate in chunk.candidates or []]
    text = "".join(part.text or "" for c in candidates for part in (c.content.parts if c.content else None) or [])
    finish = [c.finish_reason for c in candidates if c.finish_reason]
    ratings = [rating for c in candidates for rating in c.safety_ratings or []]
    return text, finish[-1] if finish else None, ratings


@STREAMED
async def test_gemini_max_tokens_with_the_cut_text(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await proxy_with(start_proxy, "{type: truncate, tokens: 5}", "gemini")
    cut, cut_finish, _ = await gemini(proxy, FAULTED["gemini"], streamed)
    whole, whole_finish, _ = await gemini(proxy, CLEAN["gemini"], streamed)
    assert cut_finish == genai_types.FinishReason.MAX_TOKENS and whole_finish == genai_types.FinishReason.STOP
    assert cut and whole.startswith(cut) and len(cut) < len(whole)


@STREAMED
async def test_gemini_safety_with_ratings(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await proxy_with(start_proxy, "{type: content_filter}", "gemini")
    text, finish, ratings = await gemini(proxy, FAULTED["gemini"], streamed)
    assert finish == genai_types.FinishReason.SAFETY and not text
    assert any(rating.blocked or rating.probability == genai_types.HarmProbability.HIGH for rating in ratings)


@STREAMED
async def test_gemini_usage_missing(start_proxy: StartProxy, streamed: bool) -> None:
    proxy = await proxy_with(start_proxy, "{type: usage_missing}", "gemini")
    client = gemini_client(proxy)
    if streamed:
        chunks = [
            chunk
            async for chunk in await client.aio.models.generate_content_stream(
                model=FAULTED["gemini"], contents=QUESTION
            )
        ]
    else:
        chunks = [await client.aio.models.generate_content(model=FAULTED["gemini"], contents=QUESTION)]
    await client.aio.aclose()
    assert all(chunk.usage_metadata is None for chunk in chunks)
    assert "".join(chunk.text or "" for chunk in chunks)


async def gemini_tool_chunks(proxy: RunningProxy, streamed: bool) -> list[genai_types.GenerateContentResponse]:
    """The answer (or each chunk of it) to the question with get_weather declared."""
    client = gemini_client(proxy)
    declaration = genai_types.FunctionDeclaration(name="get_weather", parameters_json_schema=WEATHER_SCHEMA)
    config = genai_types.GenerateContentConfig(tools=[genai_types.Tool(function_declarations=[declaration])])
    model = FAULTED["gemini"]
    if streamed:
        stream = await client.aio.models.generate_content_stream(model=model, contents=QUESTION, config=config)
        chunks = [chunk async for chunk in stream]
    else:
        chunks = [await client.aio.models.generate_content(model=model, contents=QUESTION, config=config)]
    await client.aio.aclose()
    return chunks


@STREAMED
@OBJECT_ARGUMENT_BREAKS
async def test_gemini_function_call_is_the_bad_call(start_proxy: StartProxy, streamed: bool, mode: str) -> None:
    chunks = await gemini_tool_chunks(
        await proxy_with(start_proxy, f"{{type: bad_tool_call, mode: {mode}}}", "gemini"), streamed
    )
    calls = [call for chunk in chunks for call in chunk.function_calls or []]
    assert len(calls) == 1 and calls[0].args is not None
    check_bad_call(mode, str(calls[0].name), calls[0].args)


@STREAMED
async def test_gemini_bad_json_is_a_malformed_function_call(start_proxy: StartProxy, streamed: bool) -> None:
    """Gemini parses the model's call itself and, when it does not parse, answers with no call and
    finishReason MALFORMED_FUNCTION_CALL: `args` is always an object on its wire. (Broken text in
    `args` is no answer Gemini sends: google-genai refuses the whole response with pydantic's
    ValidationError, so the app never sees a bad call.)"""
    chunks = await gemini_tool_chunks(
        await proxy_with(start_proxy, "{type: bad_tool_call, mode: bad_json}", "gemini"), streamed
    )
    finishes = [c.finish_reason for chunk in chunks for c in chunk.candidates or [] if c.finish_reason]
    assert finishes[-1] == genai_types.FinishReason.MALFORMED_FUNCTION_CALL
    assert not [call for chunk in chunks for call in chunk.function_calls or []]


# --- the built-in scenario ----------------------------------------------------------------------


def fired_by_rule(proxy: RunningProxy, scenario_name: str) -> dict[str, float]:
    return {
        sample.labels["rule"]: sample.value
        for family in proxy.state.metrics.faults.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["scenario"] == scenario_name
    }


async def test_bad_answers_aims_its_tool_and_schema_rules(start_proxy: StartProxy) -> None:
    """The library's bad-answers: broken tool calls only where tools were offered, broken JSON only
    where JSON was asked for, and the other bad answers everywhere (the SDK raising or not)."""
    proxy = await start_proxy()  # the library is loaded switched off; the header applies it
    client = openai.AsyncOpenAI(
        base_url=f"{proxy.url}/openai/v1",
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-brownout-scenario": "bad-answers"},
    )
    asks: list[dict[str, Any]] = [{}, {"tools": CHAT_TOOLS}, {"response_format": {"type": "json_object"}}]
    seen: list[dict[str, float]] = []
    for options in asks:  # 40 calls each: a rule drawn at 0.3 fails to fire in all with p < 1e-6
        for _ in range(40):
            await client.chat.completions.create(model="gpt-4o", messages=ASK, **options)
        seen.append(fired_by_rule(proxy, "bad-answers"))
    plain, tools, structured = seen
    assert "tool-arguments-broken" not in plain and "schema-broken" not in plain and sum(plain.values()) > 0
    assert tools["tool-arguments-broken"] > 0 and "schema-broken" not in tools
    assert structured["schema-broken"] > 0 and structured["tool-arguments-broken"] == tools["tool-arguments-broken"]
