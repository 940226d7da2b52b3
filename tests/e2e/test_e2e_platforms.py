"""Claude on Vertex AI and in Azure AI Foundry, through a real proxy, with the anthropic SDK's own
platform clients: an injected mid-stream error must carry Anthropic's `event: error` line, or the
SDK skips the frame and the fault is invisible (issue 15, item 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anthropic
import openai
import pytest
from anthropic.lib.foundry import AsyncAnthropicFoundry

from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy
from conftest import StartProxy
from proxykit import switch_to
from sse_upstream import SseUpstream

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[RunningProxy]:
    async with SseUpstream(events=6, gap=0) as up:
        settings = ProxySettings(
            port=0,
            admin_port=0,
            upstreams=[f"gemini={up.url}/gemini", f"azure={up.url}/azure"],
            verbosity="error",
            extra_options={"confdir": str(tmp_path)},
        )
        async with RunningProxy(settings) as running:
            switch_to(running, "{type: stream_error, after_events: 4, kind: overloaded}", match="{provider: anthropic}")
            yield running


async def streamed_text(client: anthropic.AsyncAnthropic) -> tuple[str, BaseException | None]:
    text = ""
    try:
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=10, messages=USER) as stream:
            async for piece in stream.text_stream:
                text += piece
    except anthropic.APIError as exc:
        return text, exc
    return text, None


async def test_vertex_mid_stream_error_raises_in_the_sdk(proxy: RunningProxy) -> None:
    client = anthropic.AsyncAnthropicVertex(
        region="us-east5", project_id="p", access_token="token", base_url=f"{proxy.url}/gemini/v1", max_retries=0
    )
    async with client:
        text, error = await streamed_text(client)
    assert isinstance(error, anthropic.APIStatusError), text
    assert error.type == "overloaded_error"
    assert text == " tok0"  # message_start, content_block_start, ping, one delta: then the error


async def test_foundry_mid_stream_error_raises_in_the_sdk(proxy: RunningProxy) -> None:
    client = AsyncAnthropicFoundry(
        api_key="key", base_url=f"{proxy.url}/azure/myres.services.ai.azure.com/anthropic", max_retries=0
    )
    async with client:
        text, error = await streamed_text(client)
    assert isinstance(error, anthropic.APIStatusError), text
    assert error.type == "overloaded_error"
    assert text == " tok0"


async def test_azure_chat_through_the_proxy_carries_the_content_filter_results(start_proxy: StartProxy) -> None:
    """Azure's opening frame has no choices (issue 15, item 8): code that reads `choices[0]` on every
    chunk crashes on it in production, so it must crash on the simulator too, and brownout's own
    stream handling must count the stream as a completed one."""
    proxy = await start_proxy()
    client = openai.AsyncAzureOpenAI(
        azure_endpoint=f"{proxy.url}/azure/myres.openai.azure.com",
        api_key="az-test",
        api_version="2024-10-21",
        max_retries=0,
    )
    async with client:
        plain = await client.chat.completions.create(model="gpt4o-deployment", messages=USER)  # type: ignore[arg-type]
        assert plain.model_extra and plain.model_extra["prompt_filter_results"][0]["prompt_index"] == 0
        assert plain.choices[0].model_extra and "content_filter_results" in plain.choices[0].model_extra
        stream = await client.chat.completions.create(model="gpt4o-deployment", messages=USER, stream=True)  # type: ignore[arg-type]
        chunks = [chunk async for chunk in stream]
    first = chunks[0]
    assert first.choices == [] and first.id == "" and first.model_extra and first.model_extra["prompt_filter_results"]
    with pytest.raises(IndexError):
        [chunk.choices[0].delta.content for chunk in chunks]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == plain.choices[0].message.content
    completed = proxy.state.metrics.registry.get_sample_value(
        "brownout_streams_total", {"provider": "azure", "endpoint": "chat", "outcome": "completed"}
    )
    assert completed == 1
