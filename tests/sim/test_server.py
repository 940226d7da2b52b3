"""The simulated upstream, spoken to by the official SDKs and byte by byte.

The SDK tests prove the bodies and streams parse as the real APIs' do; the byte tests pin the
framing a proxy relies on; the pacing tests prove events arrive progressively without one
stream holding up another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from brownout.providers import dialects
from brownout.providers.sse import SseEvent
from brownout.sim import SimConfig
from brownout.sim import SimServer
from brownout.sim import build_app
from brownout.sim.call import THINKING_TOKENS
from brownout.sim.common import Stamp
from brownout.sim.common import Turn
from brownout.sim.gemini import array_stream
from brownout.sim.gemini import sse_stream
from brownout.sim.openai import chat_completion
from brownout.sim.openai import chat_stream
from brownout.sim.responses import response_stream
from brownout.sim.text import reply_words
from brownout.sim.text import token_pieces

PROMPT = "Say something about resilience."
CLAUDE = "claude-haiku-4-5"
# Azure's content filter verdict on a harmless text, category by category.
SAFE = {"filtered": False, "severity": "safe"}
FILTERED_SAFE = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}

# google-genai's own aiohttp session subclass warns on import under aiohttp 3.14; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    # Unpaced: the SDK tests are about formats, not timing.
    async with SimServer(SimConfig(tokens_per_second=0)) as server:
        yield server


@pytest.fixture
async def oai(sim: SimServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=f"{sim.url}/openai/v1", api_key="sk-test", max_retries=0)
    async with client:
        yield client


@pytest.fixture
async def claude(sim: SimServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(base_url=f"{sim.url}/anthropic", api_key="x", max_retries=0)
    async with client:
        yield client


@pytest.fixture
async def gem(sim: SimServer) -> AsyncIterator[genai.Client]:
    client = genai.Client(api_key="x", http_options=genai_types.HttpOptions(base_url=f"{sim.url}/gemini"))
    yield client
    await client.aio.aclose()


def user(text: str = PROMPT) -> list[Any]:
    return [{"role": "user", "content": text}]


# --- OpenAI -------------------------------------------------------------------------------


async def test_chat_plain_and_streamed_agree(sim: SimServer, oai: openai.AsyncOpenAI) -> None:
    plain = await oai.chat.completions.create(model="gpt-4o", messages=user())
    text = plain.choices[0].message.content
    assert text and text.endswith(".")
    assert plain.object == "chat.completion" and plain.id.startswith("chatcmpl-")
    assert plain.choices[0].finish_reason == "stop"
    assert plain.usage is not None
    assert plain.usage.completion_tokens == len(text.split()) == 24
    assert plain.usage.prompt_tokens == len(PROMPT) // 4 + 1
    assert plain.usage.total_tokens == plain.usage.prompt_tokens + plain.usage.completion_tokens

    stream = await oai.chat.completions.create(
        model="gpt-4o", messages=user(), stream=True, stream_options={"include_usage": True}
    )
    pieces: list[str] = []
    finish: list[str] = []
    usage = None
    roles = []
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
            assert chunk.choices == []
        for choice in chunk.choices:
            roles.append(choice.delta.role)
            pieces.append(choice.delta.content or "")
            if choice.finish_reason:
                finish.append(choice.finish_reason)
    assert "".join(pieces) == text
    assert roles[0] == "assistant"
    assert finish == ["stop"]
    assert usage is not None and usage.completion_tokens == 24
    assert usage.prompt_tokens == plain.usage.prompt_tokens
    assert sim.requests["openai.chat"] == 2


async def test_chat_stream_without_include_usage(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(model="gpt-4o", messages=user(), stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None for chunk in chunks)
    # role chunk + 24 tokens + finish chunk
    assert len(chunks) == 26


async def test_chat_stream_helper_accumulates(oai: openai.AsyncOpenAI) -> None:
    async with oai.chat.completions.stream(model="gpt-4o", messages=user()) as stream:
        final = await stream.get_final_completion()
    plain = await oai.chat.completions.create(model="gpt-4o", messages=user())
    assert final.choices[0].message.content == plain.choices[0].message.content


async def test_chat_output_cap_and_token_header(oai: openai.AsyncOpenAI) -> None:
    capped = await oai.chat.completions.create(model="gpt-4o", messages=user(), max_tokens=5)
    assert capped.choices[0].finish_reason == "length"
    assert capped.usage is not None and capped.usage.completion_tokens == 5
    longer = await oai.chat.completions.create(model="gpt-4o", messages=user(), extra_headers={"x-sim-tokens": "40"})
    content = longer.choices[0].message.content or ""
    assert len(content.split()) == 40
    # A cut reply is the start of the full one.
    assert content.startswith((capped.choices[0].message.content or "").rstrip(".,"))


async def test_responses_plain_and_streamed(sim: SimServer, oai: openai.AsyncOpenAI) -> None:
    plain = await oai.responses.create(model="gpt-4o", input=PROMPT, instructions="Be brief.")
    assert plain.status == "completed" and plain.id.startswith("resp_")
    assert plain.instructions == "Be brief."
    assert plain.usage is not None and plain.usage.output_tokens == 24
    assert len(plain.output_text.split()) == 24

    async with oai.responses.stream(model="gpt-4o", input=PROMPT, instructions="Be brief.") as s:
        deltas = [event.delta async for event in s if event.type == "response.output_text.delta"]
        final = await s.get_final_response()
    assert "".join(deltas) == plain.output_text == final.output_text
    assert final.usage is not None and final.usage.total_tokens == plain.usage.total_tokens

    raw = await oai.responses.create(model="gpt-4o", input=PROMPT, stream=True)
    events = [event async for event in raw]
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert sim.requests["openai.responses"] == 3


async def test_embeddings_float_and_base64(oai: openai.AsyncOpenAI) -> None:
    as_floats = await oai.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta"], encoding_format="float"
    )
    # Without encoding_format the SDK asks for base64 and decodes it itself.
    decoded = await oai.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    assert [item.index for item in as_floats.data] == [0, 1]
    assert len(as_floats.data[0].embedding) == 1536
    assert [item.embedding for item in decoded.data] == [item.embedding for item in as_floats.data]
    assert as_floats.data[0].embedding != as_floats.data[1].embedding
    norm = sum(value * value for value in as_floats.data[0].embedding)
    assert norm == pytest.approx(1.0, rel=1e-4)
    small = await oai.embeddings.create(model="text-embedding-3-large", input="alpha", dimensions=8)
    assert len(small.data[0].embedding) == 8
    assert as_floats.usage.prompt_tokens == as_floats.usage.total_tokens > 0


async def test_models_list(oai: openai.AsyncOpenAI) -> None:
    models = [model.id async for model in oai.models.list()]
    assert "gpt-4o" in models
    assert (await oai.models.retrieve("gpt-4o-mini")).id == "gpt-4o-mini"


async def test_azure_chat(sim: SimServer) -> None:
    client = openai.AsyncAzureOpenAI(
        azure_endpoint=f"{sim.url}/azure", api_key="x", api_version="2024-10-21", max_retries=0
    )
    async with client:
        raw = await client.chat.completions.with_raw_response.create(model="my-deployment", messages=user())
        plain = raw.parse()
        assert plain.model == "my-deployment"
        assert plain.model_extra and plain.model_extra["prompt_filter_results"][0]["prompt_index"] == 0
        assert plain.choices[0].model_extra == {"content_filter_results": FILTERED_SAFE}
        assert raw.headers["x-ms-deployment-name"] == "my-deployment"
        assert raw.headers["apim-request-id"] == raw.headers["x-request-id"]
        stream = await client.chat.completions.create(model="my-deployment", messages=user(), stream=True)
        chunks = [chunk async for chunk in stream]
        assert chunks[0].choices == [] and chunks[0].model_extra and chunks[0].model_extra["prompt_filter_results"]
        text = "".join([c.choices[0].delta.content or "" for c in chunks if c.choices])
        assert text == plain.choices[0].message.content
        vectors = await client.embeddings.create(model="embed-deployment", input="alpha")
        assert vectors.model == "embed-deployment"
    assert sim.requests["azure.chat"] == 2
    assert sim.requests["azure.embeddings"] == 1


async def test_openai_errors_and_headers(sim: SimServer, oai: openai.AsyncOpenAI) -> None:
    raw = await oai.chat.completions.with_raw_response.create(model="gpt-4o", messages=user())
    assert raw.headers["x-request-id"].startswith("req_")
    assert int(raw.headers["openai-processing-ms"]) >= 1
    assert raw.headers["x-ratelimit-remaining-requests"] == "9999"
    with pytest.raises(openai.NotFoundError) as missing:
        await oai.post("/nope", cast_to=object, body={})
    assert missing.value.code is None
    assert missing.value.body == {
        "message": "Invalid URL (POST /v1/nope)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.BadRequestError):
        await oai.chat.completions.create(model="", messages=user())
    assert sim.requests["openai.unknown"] == 1


# --- Anthropic ----------------------------------------------------------------------------


async def test_anthropic_plain_and_streamed(sim: SimServer, claude: anthropic.AsyncAnthropic) -> None:
    plain = await claude.messages.create(model=CLAUDE, max_tokens=1024, messages=user())
    # `msg_01` and 22 base62 characters, as the API's ids are (docs/wire-formats.md).
    assert re.fullmatch(r"msg_01[0-9A-Za-z]{22}", plain.id) and plain.stop_reason == "end_turn"
    assert plain.content[0].type == "text"
    text = plain.content[0].text
    assert len(text.split()) == 24
    assert plain.usage.output_tokens == 24 and plain.usage.input_tokens > 0

    async with claude.messages.stream(model=CLAUDE, max_tokens=1024, messages=user()) as stream:
        streamed = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert streamed == text
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.usage.output_tokens == 24
    assert final.usage.input_tokens == plain.usage.input_tokens
    assert final.stop_reason == "end_turn"

    capped = await claude.messages.create(model=CLAUDE, max_tokens=3, messages=user())
    assert capped.stop_reason == "max_tokens" and capped.usage.output_tokens == 3

    counted = await claude.messages.count_tokens(model=CLAUDE, messages=user())
    assert counted.input_tokens == plain.usage.input_tokens
    assert sim.requests["anthropic.messages"] == 3
    assert sim.requests["anthropic.count_tokens"] == 1


async def test_anthropic_errors_and_headers(claude: anthropic.AsyncAnthropic) -> None:
    raw = await claude.messages.with_raw_response.create(model=CLAUDE, max_tokens=10, messages=user())
    assert raw.headers["request-id"].startswith("req_011C")
    assert int(raw.headers["anthropic-ratelimit-requests-remaining"]) > 0
    assert raw.headers["anthropic-ratelimit-tokens-reset"].endswith("Z")
    with pytest.raises(anthropic.NotFoundError) as missing:
        await claude.post("/v1/nope", cast_to=object, body={})
    assert missing.value.type == "not_found_error"
    assert missing.value.request_id is not None and missing.value.request_id.startswith("req_")


# --- Gemini -------------------------------------------------------------------------------


async def test_gemini_generate_and_stream(sim: SimServer, gem: genai.Client) -> None:
    plain = await gem.aio.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert plain.text is not None and len(plain.text.split()) == 24
    assert plain.candidates and plain.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert plain.usage_metadata is not None
    assert plain.usage_metadata.candidates_token_count == 24
    assert plain.model_version == "gemini-2.5-flash"

    pieces: list[str] = []
    async for chunk in await gem.aio.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT):
        pieces.append(chunk.text or "")
    assert len(pieces) == 24
    assert "".join(pieces) == plain.text

    capped = await gem.aio.models.generate_content(
        model="gemini-2.5-flash",
        contents=PROMPT,
        config=genai_types.GenerateContentConfig(max_output_tokens=4),
    )
    assert capped.candidates and capped.candidates[0].finish_reason == "MAX_TOKENS"
    assert sim.requests["gemini.generate"] == 2
    assert sim.requests["gemini.stream"] == 1


async def test_gemini_embed_and_count(sim: SimServer, gem: genai.Client) -> None:
    embedded = await gem.aio.models.embed_content(
        model="gemini-embedding-001",
        contents=["alpha", "beta"],
        config=genai_types.EmbedContentConfig(output_dimensionality=16),
    )
    assert embedded.embeddings is not None and len(embedded.embeddings) == 2
    assert [len(e.values or []) for e in embedded.embeddings] == [16, 16]
    counted = await gem.aio.models.count_tokens(model="gemini-2.5-flash", contents=PROMPT)
    assert counted.total_tokens == len(PROMPT) // 4 + 1
    assert sim.requests["gemini.count_tokens"] == 1
    # The SDK sends even a single Gemini API embedding through batchEmbedContents.
    assert sim.requests["gemini.batch_embed"] == 1


async def test_gemini_raw_endpoints(sim: SimServer) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
    base = f"{sim.url}/gemini/v1/models/gemini-2.0-flash"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}:streamGenerateContent", json=body) as response:
            assert response.headers["content-type"] == "application/json; charset=UTF-8"
            array = json.loads(await response.read())
        async with session.post(f"{base}:streamGenerateContent?alt=sse", json=body) as response:
            assert response.headers["content-type"] == "text/event-stream"
            sse = await response.read()
        async with session.post(f"{base}:embedContent", json={"content": body["contents"][0]}) as r:
            single = json.loads(await r.read())
        async with session.post(f"{base}:nope", json=body) as response:
            assert response.status == 404
            missing = json.loads(await response.read())
    assert isinstance(array, list) and len(array) == 24
    assert array[-1]["candidates"][0]["finishReason"] == "STOP"
    frames = sse.split(b"\r\n\r\n")
    assert frames[-1] == b"" and len(frames) == 25
    chunks = [json.loads(frame.removeprefix(b"data: ")) for frame in frames[:-1]]
    assert [gemini_text(chunk) for chunk in chunks] == [gemini_text(item) for item in array]
    assert len(single["embedding"]["values"]) == 768
    assert missing["error"]["status"] == "NOT_FOUND" and missing["error"]["code"] == 404
    assert sim.requests["gemini.unknown"] == 1


# --- bytes and determinism ----------------------------------------------------------------


def gemini_text(chunk: dict[str, Any]) -> str:
    return str(chunk["candidates"][0]["content"]["parts"][0]["text"])


def _turn(count: int = 5, fixed: bool = True) -> Turn:
    words = reply_words(PROMPT, count)
    stamp = Stamp(created=1_700_000_000, seed=b"seed" if fixed else None)
    return Turn("gpt-4o", tuple(token_pieces(words)), False, 7, stamp)


def test_reply_text_is_deterministic_and_prefix_stable() -> None:
    assert reply_words(PROMPT, 24) == reply_words(PROMPT, 24)
    assert reply_words(PROMPT, 24) != reply_words(PROMPT + "!", 24)
    short, long = reply_words(PROMPT, 6), reply_words(PROMPT, 24)
    assert [w.rstrip(".,") for w in short] == [w.rstrip(".,") for w in long[:6]]
    assert "".join(token_pieces(long)) == " ".join(long)


def test_chat_stream_bytes() -> None:
    body = {"model": "gpt-4o", "stream": True, "stream_options": {"include_usage": True}}
    plan = chat_stream(body, _turn())
    raw = plan.body
    assert raw.endswith(b"data: [DONE]\n\n")
    assert len(plan.tokens) == 5
    frames = raw.split(b"\n\n")[:-1]
    assert all(frame.startswith(b"data: ") for frame in frames)
    usage = json.loads(frames[-2].removeprefix(b"data: "))
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 5
    assert json.loads(frames[1].removeprefix(b"data: "))["usage"] is None
    # No include_usage: no usage key at all, and the last data frame is the finish chunk.
    bare = chat_stream({"model": "gpt-4o", "stream": True}, _turn()).body.split(b"\n\n")
    last = json.loads(bare[-3].removeprefix(b"data: "))
    assert "usage" not in last and last["choices"][0]["finish_reason"] == "stop"


def test_azure_chat_stream_opens_with_the_prompt_filter_frame() -> None:
    # As Azure sends it (mentat#429, mlflow#12767): no choices, empty ids, the prompt's results.
    frames = chat_stream({"model": "dep", "stream": True}, _turn(), azure=True).body.split(b"\n\n")[:-1]
    chunks = [json.loads(frame.removeprefix(b"data: ")) for frame in frames[:-1]]
    assert chunks[0] == {
        "id": "",
        "choices": [],
        "created": 0,
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERED_SAFE}],
    }
    role, *texts, finish = chunks[1:]
    assert role["choices"][0]["content_filter_results"] == {}
    assert len(texts) == 5 and all(c["choices"][0]["content_filter_results"] == FILTERED_SAFE for c in texts)
    assert finish["choices"][0]["content_filter_results"] == {}
    # api.openai.com sends neither.
    plain = chat_stream({"model": "gpt-4o", "stream": True}, _turn()).body
    assert b"filter_results" not in plain and not plain.startswith(b'data: {"id":""')


def test_azure_chat_dialect_reads_the_simulators_filtered_stream() -> None:
    # The opening frame has no choices and no text; the text and the end are found as on OpenAI.
    turn = Turn("dep", (" tok0", " tok1"), False, 3, Stamp(created=1_700_000_000, seed=b"seed"))
    raw = chat_stream({"model": "dep", "stream": True}, turn, azure=True).body
    events = [SseEvent(frame + b"\n\n") for frame in raw.split(b"\n\n")[:-1]]
    dialect = dialects.dialect_for("azure", "chat")
    assert b"prompt_filter_results" in events[0].raw and dialect.text_of(events[0]) == ""
    assert not dialect.ends_answer(events[0]) and not dialect.is_terminator(events[0])
    assert "".join(dialect.text_of(e) for e in events) == " tok0 tok1"
    assert [dialect.ends_answer(e) for e in events] == [False] * 4 + [True, True]


def test_azure_chat_body_carries_content_filter_results() -> None:
    body = json.loads(chat_completion({"model": "dep"}, _turn(), azure=True))
    assert body["prompt_filter_results"] == [{"prompt_index": 0, "content_filter_results": FILTERED_SAFE}]
    assert body["choices"][0]["content_filter_results"] == FILTERED_SAFE
    assert b"filter_results" not in chat_completion({"model": "gpt-4o"}, _turn())


def test_responses_stream_bytes() -> None:
    raw = response_stream({"model": "gpt-4o", "stream": True}, _turn()).body
    assert b"[DONE]" not in raw
    for frame in raw.split(b"\n\n")[:-1]:
        event_line, data_line = frame.split(b"\n")
        data = json.loads(data_line.removeprefix(b"data: "))
        assert event_line == b"event: " + data["type"].encode()
        assert isinstance(data["sequence_number"], int)


def test_gemini_frames() -> None:
    plan = sse_stream(_turn())
    assert plan.head == plan.tail == ()
    for frame in plan.tokens:
        assert frame.startswith(b"data: {") and frame.endswith(b"}\r\n\r\n")
        assert b"\r\n\r\n" not in frame[:-4]
    assert b'"finishReason": "STOP"' in plan.tokens[-1]
    assert b"finishReason" not in plan.tokens[0]
    array = array_stream(_turn())
    assert array.tokens[0].startswith(b"[{") and array.tail == (b"\n]",)
    assert len(json.loads(array.body)) == 5
    empty = sse_stream(Turn("m", (), False, 1, Stamp(1)))
    assert len(empty.tokens) == 1 and b'"text": ""' in empty.tokens[0]


def test_ids_fixed_or_random() -> None:
    fixed, random_ = _turn(fixed=True), _turn(fixed=False)
    assert chat_stream({}, fixed).body == chat_stream({}, fixed).body
    assert chat_stream({}, random_).body != chat_stream({}, _turn(fixed=False)).body
    # Within one response an id asked for twice is one id (a call's id in its opening event
    # and in the finished item); another response draws another.
    assert random_.stamp.ident("call", 24) == random_.stamp.ident("call", 24)
    assert random_.stamp.ident("call", 24) != _turn(fixed=False).stamp.ident("call", 24)


async def _fetch(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    async with session.post(url, json=body) as response:
        payload = await response.read()
        headers = {k.lower(): v for k, v in response.headers.items() if k.lower() != "date"}
        return payload, headers


REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("/openai/v1/chat/completions", {"model": "gpt-4o", "messages": user()}),
    (
        "/openai/v1/chat/completions",
        {"model": "gpt-4o", "messages": user(), "stream": True, "stream_options": {"include_usage": True}},
    ),
    ("/openai/v1/responses", {"model": "gpt-4o", "input": PROMPT, "stream": True}),
    ("/openai/v1/responses", {"model": "gpt-4o", "input": PROMPT}),
    ("/azure/openai/deployments/dep/chat/completions?api-version=2024-10-21", {"messages": user(), "stream": True}),
    ("/anthropic/v1/messages", {"model": "claude", "max_tokens": 9, "messages": user()}),
    (
        "/anthropic/v1/messages",
        {"model": "claude", "max_tokens": 99, "messages": user(), "stream": True},
    ),
    ("/gemini/v1beta/models/gemini-2.5-flash:generateContent", {"contents": [{"parts": [{"text": PROMPT}]}]}),
    (
        "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"contents": [{"parts": [{"text": PROMPT}]}]},
    ),
]


async def test_fixed_clock_is_byte_identical() -> None:
    async with SimServer(SimConfig(tokens_per_second=0, fixed_clock=1_700_000_000.0)) as server:
        async with aiohttp.ClientSession() as session:
            for path, body in REQUESTS:
                first = await _fetch(session, server.url + path, body)
                second = await _fetch(session, server.url + path, body)
                assert first == second, path
                if path.startswith(("/openai", "/azure")):
                    assert b"1700000000" in first[0], path
    async with SimServer(SimConfig(tokens_per_second=0)) as server:
        async with aiohttp.ClientSession() as session:
            path, body = REQUESTS[0]
            first = await _fetch(session, server.url + path, body)
            second = await _fetch(session, server.url + path, body)
            assert first[0] != second[0]  # random ids
            assert json.loads(first[0])["choices"] == json.loads(second[0])["choices"]


async def test_unknown_paths_and_bad_json() -> None:
    async with SimServer(SimConfig(tokens_per_second=0)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "/azure/openai/nothing") as response:
                assert response.status == 404
                assert json.loads(await response.read()) == {"error": {"code": "404", "message": "Resource not found"}}
            async with session.get(server.url + "/openai/v1/chat/completions") as response:
                assert response.status == 404  # wrong method: the API says "Invalid URL"
            async with session.post(server.url + "/elsewhere") as response:
                assert response.status == 404
            async with session.post(server.url + "/anthropic/v1/messages", data=b"{not json") as response:
                assert response.status == 400
                error = json.loads(await response.read())
                assert error["type"] == "error"
                assert error["error"]["type"] == "invalid_request_error"
                assert error["request_id"] == response.headers["request-id"]
    assert server.requests["azure.unknown"] == 1
    assert server.requests["openai.unknown"] == 1
    assert server.requests["other.unknown"] == 1
    assert server.requests["anthropic.messages"] == 1


def test_build_app_and_config_validation() -> None:
    assert build_app(SimConfig()) is not None
    with pytest.raises(ValueError):
        SimConfig(tokens_per_second=-1)
    with pytest.raises(ValueError):
        SimConfig(reply_tokens=-1)


# --- pacing -------------------------------------------------------------------------------


async def _timed_stream(session: aiohttp.ClientSession, url: str) -> tuple[float, list[float]]:
    """Total time of a 20-token chat stream, and when each data frame arrived."""
    body = {"model": "gpt-4o", "messages": user(), "stream": True}
    started = time.monotonic()
    arrivals: list[float] = []
    async with session.post(url, json=body, headers={"x-sim-tokens": "20"}) as response:
        buffer = b""
        async for piece in response.content.iter_any():
            buffer += piece
            while b"\n\n" in buffer:
                _, buffer = buffer.split(b"\n\n", 1)
                arrivals.append(time.monotonic() - started)
    return time.monotonic() - started, arrivals


async def test_pacing_is_progressive_and_concurrent() -> None:
    async with SimServer(SimConfig(tokens_per_second=20)) as server:
        url = server.url + "/openai/v1/chat/completions"
        async with aiohttp.ClientSession() as session:
            _, arrivals = await _timed_stream(session, url)
            assert len(arrivals) == 23  # role, 20 tokens, finish, [DONE]
            # Timed from the role chunk, which goes out at once: the connection's setup before it
            # is no part of the pace. The first token comes a tick (50 ms) after the role chunk,
            # the tenth ten ticks after it, the end twenty: an unpaced stream has them all at once.
            assert 0.02 < arrivals[1] - arrivals[0] < 0.15
            assert arrivals[10] - arrivals[0] == pytest.approx(0.5, abs=0.1)
            assert arrivals[-1] - arrivals[0] == pytest.approx(1.0, abs=0.15)

            started = time.monotonic()
            both = await asyncio.gather(_timed_stream(session, url), _timed_stream(session, url))
            # Paced side by side: each takes its second, and both together well under the two
            # seconds a pace shared between the streams (or one after the other) would take.
            assert time.monotonic() - started < 1.5
            assert all(times[-1] - times[0] == pytest.approx(1.0, abs=0.15) for _, times in both)


async def test_reasoning_takes_its_ticks_streamed_or_not() -> None:
    """A reasoning model's hidden reasoning delays a streamed answer's first token as it
    delays a plain answer: THINKING_TOKENS more ticks than a model that does not reason."""
    tps = 50
    async with SimServer(SimConfig(tokens_per_second=tps, reply_tokens=5)) as server:
        client = openai.AsyncOpenAI(base_url=f"{server.url}/openai/v1", api_key="x")
        async with client:
            await client.chat.completions.create(model="gpt-4o", messages=user())  # connect once
            timings: dict[str, tuple[float, float]] = {}
            for model in ("gpt-4o", "o4-mini"):
                started = time.monotonic()
                plain = await client.chat.completions.create(model=model, messages=user())
                plain_time = time.monotonic() - started
                assert plain.usage and plain.usage.completion_tokens == 5 + (
                    THINKING_TOKENS if model == "o4-mini" else 0
                )
                started = time.monotonic()
                first = 0.0
                async for chunk in await client.chat.completions.create(model=model, messages=user(), stream=True):
                    if not first and chunk.choices and chunk.choices[0].delta.content:
                        first = time.monotonic() - started
                timings[model] = (plain_time, first)
    extra = THINKING_TOKENS / tps
    assert timings["o4-mini"][0] - timings["gpt-4o"][0] == pytest.approx(extra, abs=0.1)
    assert timings["o4-mini"][1] - timings["gpt-4o"][1] == pytest.approx(extra, abs=0.1)


async def test_large_prompt_is_accepted(oai: openai.AsyncOpenAI) -> None:
    big = "word " * 400_000  # 2 MB, over aiohttp's default body limit
    reply = await oai.chat.completions.create(model="gpt-4o", messages=user(big))
    assert reply.usage is not None and reply.usage.prompt_tokens == len(big) // 4


async def test_client_hanging_up_mid_stream(caplog: pytest.LogCaptureFixture) -> None:
    body = {"model": "gpt-4o", "messages": user(), "stream": True}
    async with SimServer(SimConfig(tokens_per_second=50, reply_tokens=50)) as server:
        url = server.url + "/openai/v1/chat/completions"
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=body) as response:
                assert (await response.content.readuntil(b"\n\n")).startswith(b"data: ")
                response.close()  # hang up after the first event
            await asyncio.sleep(0.1)
            async with session.post(url, json=body, headers={"x-sim-tps": "0"}) as response:
                assert (await response.read()).endswith(b"data: [DONE]\n\n")
    assert server.requests["openai.chat"] == 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_per_request_pace_and_first_token_delay() -> None:
    async with SimServer(SimConfig(tokens_per_second=0)) as server:
        url = server.url + "/anthropic/v1/messages"
        body = {"model": "claude", "max_tokens": 50, "messages": user()}
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=body) as response:  # connect first: not part of the time
                await response.read()
            started = time.monotonic()
            async with session.post(
                url,
                json=body,
                headers={"x-sim-tps": "50", "x-sim-tokens": "10", "x-sim-first-token-delay": "0.2"},
            ) as response:
                message = json.loads(await response.read())
            elapsed = time.monotonic() - started
    assert message["usage"]["output_tokens"] == 10
    # 0.2 s before the first token, then ten at 50 a second: 0.4 s. Without either half it
    # would be 0.2 s at most; both counted twice, 0.6 s.
    assert 0.38 <= elapsed < 0.55


@pytest.mark.parametrize(
    ("path", "server"),
    [
        ("/openai/v1/nothing", "cloudflare"),
        ("/anthropic/v1/nothing", "cloudflare"),
        ("/gemini/v1beta/nothing", "scaffolding on HTTPServer2"),
    ],
)
async def test_an_unknown_route_says_the_providers_server(sim: SimServer, path: str, server: str) -> None:
    """A provider's 404 from the simulator names the provider's server (captures in
    `docs/wire-formats.md`), never aiohttp's `Python/... aiohttp/...`."""
    async with aiohttp.ClientSession() as session, session.post(sim.url + path, json={}) as response:
        assert response.status == 404
        assert response.headers["Server"] == server
