"""Stream faults as applications see them: the official OpenAI, Anthropic and Google SDKs,
through the proxy, in front of the simulator. Each test states what production would show."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from brownout.cli.runner import RunningProxy
from brownout.sim import SimConfig
from brownout.sim import SimServer
from proxykit import proxy_for
from proxykit import switch_to

# google-genai's own aiohttp session subclass warns on import under aiohttp 3.14; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

USER = [{"role": "user", "content": "Tell me about resilience."}]
CLAUDE = "claude-haiku-4-5"
REPLY = 24  # simulator reply length in tokens (one per event)


@dataclass
class Apps:
    sim: SimServer
    proxy: RunningProxy
    oai: openai.AsyncOpenAI
    claude: anthropic.AsyncAnthropic
    gem: genai.Client

    def fault(self, fault: str | None) -> None:
        switch_to(self.proxy, fault, match="{stream: true}")


@pytest.fixture
async def apps(tmp_path: Path) -> AsyncIterator[Apps]:
    async with (
        SimServer(SimConfig(tokens_per_second=0, reply_tokens=REPLY)) as sim,
        proxy_for(sim.url, tmp_path) as proxy,
    ):
        # The SDKs' default retries: what an application runs with.
        oai = openai.AsyncOpenAI(base_url=f"{proxy.url}/openai/v1", api_key="sk-test")
        claude = anthropic.AsyncAnthropic(base_url=f"{proxy.url}/anthropic", api_key="sk-ant-test")
        gem = genai.Client(api_key="x", http_options=genai_types.HttpOptions(base_url=f"{proxy.url}/gemini"))
        async with oai, claude:
            yield Apps(sim, proxy, oai, claude, gem)
        await gem.aio.aclose()


async def openai_chunks(apps: Apps, **headers: str) -> tuple[list[Any], BaseException | None]:
    chunks: list[Any] = []
    try:
        stream = await apps.oai.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, extra_headers=headers or None
        )
        async for chunk in stream:
            chunks.append(chunk)
    except Exception as exc:
        return chunks, exc
    return chunks, None


async def claude_text(apps: Apps, **headers: str) -> tuple[list[str], BaseException | None]:
    texts: list[str] = []
    try:
        async with apps.claude.messages.stream(
            model=CLAUDE, max_tokens=200, messages=USER, extra_headers=headers or None
        ) as stream:
            async for text in stream.text_stream:
                texts.append(text)
    except Exception as exc:
        return texts, exc
    return texts, None


async def gemini_text(apps: Apps, **headers: str) -> tuple[list[str], BaseException | None]:
    texts: list[str] = []
    config = genai_types.GenerateContentConfig(http_options=genai_types.HttpOptions(headers=headers or None))
    try:
        stream = await apps.gem.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Tell me about resilience.", config=config
        )
        async for chunk in stream:
            texts.append(chunk.text or "")
    except Exception as exc:
        return texts, exc
    return texts, None


async def test_openai_stream_error_after_five_events(apps: Apps) -> None:
    apps.fault(None)
    clean, _ = await openai_chunks(apps)
    apps.fault("{type: stream_error, after_events: 5}")
    chunks, error = await openai_chunks(apps)
    # The app got the first five chunks, exactly as the upstream sent them...
    assert len(chunks) == 5
    assert [c.choices[0].delta.content for c in chunks] == [c.choices[0].delta.content for c in clean[:5]]
    # ...then the error openai-python raises on a mid-stream error frame: APIError, no status, not retried.
    assert type(error) is openai.APIError
    assert error.type == "server_error"
    assert "The server experienced an error" in error.message
    assert apps.sim.requests["openai.chat"] == 2


async def test_openai_responses_stream_error(apps: Apps) -> None:
    apps.fault("{type: stream_error, after_events: 4}")
    events: list[str] = []
    with pytest.raises(openai.APIError) as info:
        async for event in await apps.oai.responses.create(model="gpt-4o-mini", input="hi", stream=True):
            events.append(event.type)
    assert len(events) == 4 and events[0] == "response.created"
    assert info.value.code == "server_is_overloaded"
    apps.fault('{type: stream_error, after_events: 4, event: "response.failed"}')
    failed = [event async for event in await apps.oai.responses.create(model="gpt-4o-mini", input="hi", stream=True)]
    # The other form is yielded, not raised: the app has to look at it; its code is one the
    # SDK's ResponseError type allows, so the event parses as a ResponseFailedEvent.
    assert failed[-1].type == "response.failed" and failed[-1].response.status == "failed"
    assert isinstance(failed[-1], openai.types.responses.ResponseFailedEvent)
    assert failed[-1].response.error is not None and failed[-1].response.error.code == "server_error"


async def test_anthropic_stream_error_is_overloaded_after_partial_text(apps: Apps) -> None:
    apps.fault(None)
    full, _ = await claude_text(apps)
    apps.fault("{type: stream_error, after_events: 8}")
    texts, error = await claude_text(apps)
    # message_start, content_block_start, ping, then five text deltas.
    assert texts == full[:5]
    assert isinstance(error, anthropic.APIStatusError)
    assert error.status_code == 200  # the stream's status: not an OverloadedError, and not retried
    body = dict(error.body)  # type: ignore[call-overload]
    assert body.pop("request_id").startswith("req_011C")
    assert body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded", "details": None}}
    assert apps.sim.requests["anthropic.messages"] == 2


@pytest.mark.parametrize("framing", ["event", "raw_json"])
async def test_gemini_stream_error(apps: Apps, framing: str) -> None:
    # `raw_json`: the error body after the chunks with no `data:` prefix, as Gemini sheds load.
    apps.fault(f"{{type: stream_error, after_events: 3, framing: {framing}}}")
    texts, error = await gemini_text(apps)
    assert len(texts) == 3
    assert isinstance(error, genai_errors.ServerError)
    assert error.code == 503 and error.status == "UNAVAILABLE"


async def test_stream_cut_is_a_connection_error_without_terminator(apps: Apps) -> None:
    apps.fault("{type: stream_cut, after_events: 6}")
    chunks, error = await openai_chunks(apps)
    assert len(chunks) == 6 and all(c.choices[0].finish_reason is None for c in chunks)
    assert isinstance(error, openai.APIConnectionError)  # wrapping httpx's "incomplete chunked read"
    texts, claude_error = await claude_text(apps)
    assert len(texts) == 3  # no message_stop: the helper never builds a final message
    assert type(claude_error).__name__ == "RemoteProtocolError"
    assert "incomplete chunked read" in str(claude_error)
    gem_texts, gem_error = await gemini_text(apps)
    assert len(gem_texts) == 6
    assert isinstance(gem_error, aiohttp.ClientPayloadError)


async def test_stream_cut_reset_is_a_read_error(apps: Apps) -> None:
    apps.fault("{type: stream_cut, after_events: 4, mode: reset}")
    chunks, error = await openai_chunks(apps)
    assert len(chunks) == 4 and isinstance(error, openai.APIConnectionError)
    assert type(error.__cause__).__name__ == "ReadError"  # ECONNRESET
    texts, claude_error = await claude_text(apps)
    assert type(claude_error).__name__ == "ReadError"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_stream_slow_paces_tokens(apps: Apps, provider: str) -> None:
    """20 tokens/s over a 30-token reply: about 1.5 s, whatever the upstream's own pace (the
    simulator's is as fast as it can)."""
    tokens = 30
    read = {"openai": openai_chunks, "anthropic": claude_text, "gemini": gemini_text}[provider]
    apps.fault(None)
    assert (await read(apps))[1] is None  # connect, and the SDK's first-stream work, before the clock
    apps.fault("{type: stream_slow, tokens_per_second: 20}")
    start = time.monotonic()
    received, error = await read(apps, **{"x-sim-tokens": str(tokens)})
    elapsed = time.monotonic() - start
    assert error is None and len(received) >= tokens
    # The last token leaves the proxy 30 ticks of 50 ms after the first event reached it: 1.5 s
    # after the request went out, and a warm round trip. Unpaced, it takes a few milliseconds.
    assert 1.4 <= elapsed < 2.2
