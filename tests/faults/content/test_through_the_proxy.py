"""The content faults through a real brownout (mitmproxy in-process) in front of the simulator,
read by the official SDKs, streamed and not: the answers stay valid in each provider's framing and
the SDKs see what the fault made of them (the openai SDK's `parse` helpers raise on bad
structured output)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pydantic
import pytest
from google import genai
from google.genai import types as genai_types

from brownout.cli.runner import RunningProxy
from brownout.faults.content.bad_tool_call import UNKNOWN_TOOL
from brownout.providers.sse import split_tokens
from conftest import StartProxy

QUESTION = "What is the weather in Paris?"
FAULTS = {
    "untouched": "{type: truncate, tokens: 1}",  # its rule never matches: answers pass as they are
    "truncate": "{type: truncate, tokens: 4}",
    "empty": "{type: empty_answer}",
    "refusal": "{type: refusal}",
    "filter": "{type: content_filter, after_tokens: 2}",
    "filter-error": "{type: content_filter, mode: error}",
    "not-json": "{type: bad_structured_output}",
    "schema": "{type: bad_structured_output, mode: schema_violation}",
    "bad-json": "{type: bad_tool_call}",
    "missing": "{type: bad_tool_call, mode: missing_argument}",
    "unknown": "{type: bad_tool_call, mode: unknown_tool}",
    "spike": "{type: usage_spike, factor: 3}",
    "no-usage": "{type: usage_missing}",
}
WEATHER: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
    "additionalProperties": False,
}
CHAT_TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]


class Weather(pydantic.BaseModel):
    city: str
    days: int


def scenario(name: str, fault: str) -> str:
    match = "{model: never-used}" if name == "untouched" else "{}"
    return f"name: {name}\nrules:\n  - match: {match}\n    fault: {fault}\n"


@pytest.fixture
async def proxy(start_proxy: StartProxy) -> RunningProxy:
    return await start_proxy(*(scenario(name, fault) for name, fault in FAULTS.items()))


def only(name: str) -> dict[str, str]:
    return {"x-brownout-scenario": name}


def openai_client(proxy: RunningProxy, fault: str, azure: bool = False) -> openai.AsyncOpenAI:
    if azure:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=f"{proxy.url}/azure/myres.openai.azure.com",
            api_key="az-test",
            api_version="2024-10-21",
            max_retries=0,
            default_headers=only(fault),
        )
    return openai.AsyncOpenAI(
        base_url=f"{proxy.url}/openai/v1", api_key="sk-test", max_retries=0, default_headers=only(fault)
    )


# What the stream helper raised on the last streamed answer (it refuses a length or filter stop).
RAISED: list[Exception] = []


async def chat(proxy: RunningProxy, fault: str, streamed: bool, azure: bool = False, **options: Any) -> Any:
    """The answer as the SDK gives it; when its stream helper refuses the stop, the completion it
    raised with (the raise kept in RAISED)."""
    client = openai_client(proxy, fault, azure)
    messages: Any = [{"role": "user", "content": QUESTION}]
    RAISED.clear()
    if streamed:
        try:
            async with client.chat.completions.stream(model="gpt-4o", messages=messages, **options) as stream:
                return await stream.get_final_completion()
        except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as error:
            RAISED.append(error)
            return error.completion
    if "response_format" in options:
        return await client.chat.completions.parse(model="gpt-4o", messages=messages, **options)
    return await client.chat.completions.create(model="gpt-4o", messages=messages, **options)


def first_tokens(text: str, count: int) -> str:
    return "".join(split_tokens(text)[:count])


@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_openai_chat_truncated_with_its_length_stop(proxy: RunningProxy, streamed: bool) -> None:
    whole = (await chat(proxy, "untouched", streamed)).choices[0]
    cut = await chat(proxy, "truncate", streamed)
    if streamed:  # the stream helper raises on a length stop, with what it got
        assert isinstance(RAISED[0], openai.LengthFinishReasonError)
    assert cut.choices[0].finish_reason == "length" and whole.finish_reason == "stop"
    assert cut.choices[0].message.content == first_tokens(whole.message.content, 4)
    assert cut.usage is None or cut.usage.completion_tokens == 4


@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_openai_chat_parse_raises_on_bad_structured_output(proxy: RunningProxy, streamed: bool) -> None:
    for fault in ("not-json", "schema"):
        client = openai_client(proxy, fault)
        messages: Any = [{"role": "user", "content": QUESTION}]
        # The stream helper reads the JSON as it comes (a partial parse raises ValueError at the
        # chatter); a whole answer fails pydantic's validation (a ValueError too).
        with pytest.raises(ValueError if streamed else pydantic.ValidationError):
            if streamed:
                async with client.chat.completions.stream(
                    model="gpt-4o", messages=messages, response_format=Weather
                ) as stream:
                    await stream.get_final_completion()
            else:
                await client.chat.completions.parse(model="gpt-4o", messages=messages, response_format=Weather)
    answer = await chat(proxy, "untouched", streamed, response_format=Weather)
    assert isinstance(answer.choices[0].message.parsed, Weather)


@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_responses_parse_raises_on_bad_structured_output(proxy: RunningProxy, streamed: bool) -> None:
    for fault in ("not-json", "schema"):
        client = openai_client(proxy, fault)
        with pytest.raises(ValueError if streamed else pydantic.ValidationError):
            if streamed:
                async with client.responses.stream(model="gpt-4o", input=QUESTION, text_format=Weather) as stream:
                    await stream.get_final_response()
            else:
                await client.responses.parse(model="gpt-4o", input=QUESTION, text_format=Weather)


@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_responses_truncated_is_incomplete(proxy: RunningProxy, streamed: bool) -> None:
    client = openai_client(proxy, "truncate")
    if streamed:
        async with client.responses.stream(model="gpt-4o", input=QUESTION) as stream:
            kinds = [event.type async for event in stream]
            with pytest.raises(RuntimeError, match="response.completed"):  # the helper waits for it
                await stream.get_final_response()
        assert kinds[-1] == "response.incomplete" and "response.completed" not in kinds
        return
    response = await client.responses.create(model="gpt-4o", input=QUESTION)
    assert response.status == "incomplete" and response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert len(split_tokens(response.output_text)) == 4


@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_openai_tool_calls_broken(proxy: RunningProxy, streamed: bool) -> None:
    bad = (await chat(proxy, "bad-json", streamed, tools=CHAT_TOOLS)).choices[0].message.tool_calls[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.function.arguments)
    missing = (await chat(proxy, "missing", streamed, tools=CHAT_TOOLS)).choices[0].message.tool_calls[0]
    assert "city" not in json.loads(missing.function.arguments)
    unknown = (await chat(proxy, "unknown", streamed, tools=CHAT_TOOLS)).choices[0].message.tool_calls[0]
    assert unknown.function.name == UNKNOWN_TOOL
    assert json.loads(unknown.function.arguments).keys() == {"city", "days"}


async def test_a_request_without_tools_passes_bad_tool_call_untouched(proxy: RunningProxy) -> None:
    plain = await chat(proxy, "bad-json", streamed=False)
    whole = await chat(proxy, "untouched", streamed=False)
    assert plain.choices[0].message.content == whole.choices[0].message.content


@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_openai_refusal_and_empty_answer(proxy: RunningProxy, streamed: bool) -> None:
    refused = (await chat(proxy, "refusal", streamed)).choices[0]
    assert refused.message.refusal and not refused.message.content and refused.finish_reason == "stop"
    empty = (await chat(proxy, "empty", streamed)).choices[0]
    assert empty.message.content == "" and empty.finish_reason == "stop"


@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_azure_content_filter(proxy: RunningProxy, streamed: bool) -> None:
    filtered = await chat(proxy, "filter", streamed, azure=True)
    if streamed:
        assert isinstance(RAISED[0], openai.ContentFilterFinishReasonError)
    assert filtered.choices[0].finish_reason == "content_filter"
    assert len(split_tokens(filtered.choices[0].message.content or "")) == 2
    with pytest.raises(openai.BadRequestError) as error:
        await chat(proxy, "filter-error", streamed, azure=True)
    assert error.value.code == "content_filter"


def anthropic_client(proxy: RunningProxy, fault: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=f"{proxy.url}/anthropic", api_key="sk-ant-test", max_retries=0, default_headers=only(fault)
    )


async def message(proxy: RunningProxy, fault: str, streamed: bool, **options: Any) -> Any:
    client = anthropic_client(proxy, fault)
    ask: Any = {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": QUESTION}]}
    if streamed:
        async with client.messages.stream(**ask, **options) as stream:
            return await stream.get_final_message()
    return await client.messages.create(**ask, **options)


@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_anthropic_max_tokens_with_the_cut_text(proxy: RunningProxy, streamed: bool) -> None:
    whole = await message(proxy, "untouched", streamed)
    cut = await message(proxy, "truncate", streamed)
    assert cut.stop_reason == "max_tokens" and whole.stop_reason == "end_turn"
    assert cut.content[0].text == first_tokens(whole.content[0].text, 4)
    assert cut.usage.output_tokens < whole.usage.output_tokens
    filtered = await message(proxy, "filter", streamed)
    assert filtered.stop_reason == "refusal"


async def test_anthropic_usage_missing(proxy: RunningProxy) -> None:
    whole = await message(proxy, "no-usage", streamed=False)
    assert whole.usage is None  # the SDK builds its types unvalidated: None where usage is required
    with pytest.raises(AttributeError):  # its stream accumulator copies message_delta's usage
        await message(proxy, "no-usage", streamed=True)


async def test_anthropic_stream_raises_on_tool_arguments_that_do_not_parse(proxy: RunningProxy) -> None:
    tools: Any = [{"name": "get_weather", "input_schema": WEATHER}]
    with pytest.raises(ValueError, match="Unable to parse tool parameter JSON"):
        await message(proxy, "bad-json", streamed=True, tools=tools)
    missing = await message(proxy, "missing", streamed=True, tools=tools)
    assert missing.content[0].type == "tool_use" and "city" not in missing.content[0].input


def gemini_client(proxy: RunningProxy, fault: str) -> genai.Client:
    options = genai_types.HttpOptions(base_url=f"{proxy.url}/gemini", headers=only(fault))
    return genai.Client(api_key="g-test", http_options=options)


async def generate(proxy: RunningProxy, fault: str, streamed: bool) -> tuple[str, str | None, Any]:
    """The text, the finish reason and the last chunk (or the response) google-genai gives."""
    models = gemini_client(proxy, fault).aio.models
    if not streamed:
        response = await models.generate_content(model="gemini-2.0-flash", contents=QUESTION)
        reason = response.candidates[0].finish_reason if response.candidates else None
        return response.text or "", reason.value if reason else None, response
    text, reason, last = "", None, None
    async for chunk in await models.generate_content_stream(model="gemini-2.0-flash", contents=QUESTION):
        text += chunk.text or ""
        last = chunk
        if chunk.candidates and chunk.candidates[0].finish_reason:
            reason = chunk.candidates[0].finish_reason.value
    return text, reason, last


@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_gemini_max_tokens_and_safety(proxy: RunningProxy, streamed: bool) -> None:
    whole, stop, _ = await generate(proxy, "untouched", streamed)
    assert stop == "STOP"
    cut, stop, last = await generate(proxy, "truncate", streamed)
    assert stop == "MAX_TOKENS" and cut == first_tokens(whole, 4)
    assert last.usage_metadata.candidates_token_count == 4
    filtered, stop, last = await generate(proxy, "filter", streamed)
    assert stop == "SAFETY" and filtered == first_tokens(whole, 2)
    assert any(rating.blocked for rating in last.candidates[0].safety_ratings)


async def test_usage_spike_multiplies_what_the_sdk_reads(proxy: RunningProxy) -> None:
    whole = await chat(proxy, "untouched", streamed=False)
    spiked = await chat(proxy, "spike", streamed=False)
    assert spiked.choices[0].message.content == whole.choices[0].message.content
    assert spiked.usage.total_tokens == 3 * whole.usage.total_tokens


def retries(proxy: RunningProxy, after: str) -> float:
    labels = {"provider": "openai", "after": after, "client": "openai-python", "layer": "app"}
    return proxy.state.metrics.registry.get_sample_value("brownout_client_retries_total", labels) or 0.0


@pytest.mark.parametrize("streamed", [False, True], ids=["body", "stream"])
async def test_asking_again_after_a_spoiled_answer_is_a_retry_after_the_fault(
    proxy: RunningProxy, streamed: bool
) -> None:
    client = openai_client(proxy, "empty")
    messages: Any = [{"role": "user", "content": QUESTION}]
    for _ in range(2):  # an app that re-asks when the answer came back empty
        if streamed:
            async with client.chat.completions.stream(model="gpt-4o", messages=messages) as stream:
                await stream.get_final_completion()
        else:
            await client.chat.completions.create(model="gpt-4o", messages=messages)
    assert retries(proxy, "empty_answer") == 1
    # One that carries on after a usage spike (the answer was whole) asks its next question: no retry.
    spiked = openai_client(proxy, "spike")
    await spiked.chat.completions.create(model="gpt-4o", messages=messages)
    await spiked.chat.completions.create(model="gpt-4o", messages=[*messages, {"role": "user", "content": "And Rome?"}])
    assert retries(proxy, "usage_spike") == 0
