"""Compressed request bodies through a real proxy: model rules fire on what is inside, the upstream
gets the bytes as sent, and a decompression bomb is read as no body without holding up the loop."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
import zlib
from collections.abc import AsyncIterator
from collections.abc import Callable

import brotli
import httpx
import openai
import pytest
import zstandard
from aiohttp import web

from brownout.mitm import flows
from brownout.observe.events import AttemptStarted
from conftest import StartProxy

RULES = """\
rules:
  - match: {model: faulty}
    fault: {type: error, status: 503}
  - match: {model: streamer, stream: true}
    fault: {type: error, status: 429}
"""

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


class RecordingUpstream:
    """An OpenAI-shaped upstream that keeps each request's body exactly as it arrived on the wire
    (aiohttp would otherwise decompress it)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []  # (content-encoding, raw body)
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _chat(self, request: web.Request) -> web.Response:
        self.received.append((request.headers.get("Content-Encoding", ""), await request.read()))
        return web.json_response({"id": "chatcmpl-1", "object": "chat.completion", "choices": []})

    async def __aenter__(self) -> RecordingUpstream:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/openai/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def upstream() -> AsyncIterator[RecordingUpstream]:
    async with RecordingUpstream() as server:
        yield server


def chat(model: str, **extra: object) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "Name a river."}], **extra}).encode()


async def post(client: httpx.AsyncClient, url: str, body: bytes, coding: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Content-Encoding": coding}
    return await client.post(f"{url}/openai/v1/chat/completions", content=body, headers=headers)


@pytest.mark.parametrize("coding", sorted(ENCODERS))
async def test_model_rules_fire_on_compressed_bodies_and_the_bytes_pass_as_sent(
    start_proxy: StartProxy, upstream: RecordingUpstream, coding: str
) -> None:
    proxy = await start_proxy(RULES, upstreams=[f"openai={upstream.url}/openai"])
    encode = ENCODERS[coding]
    async with httpx.AsyncClient(timeout=10) as client:
        faulty = await post(client, proxy.url, encode(chat("faulty")), coding)
        assert faulty.status_code == 503
        streamer = await post(client, proxy.url, encode(chat("streamer", stream=True)), coding)
        assert streamer.status_code == 429
        assert upstream.received == []  # both answered in the upstream's place
        sent = encode(chat("gpt-4o"))
        fine = await post(client, proxy.url, sent, coding)
        assert fine.status_code == 200
    assert upstream.received == [(coding, sent)]  # byte for byte, still compressed
    started = [e for e in proxy.state.record.snapshot().events if isinstance(e, AttemptStarted)]
    assert [e.model for e in started] == ["faulty", "streamer", "gpt-4o"]
    assert all(e.conversation for e in started)  # the conversation is read from inside too


class GzipTransport(httpx.AsyncHTTPTransport):
    """An HTTP client that compresses every request body it sends, as some gateways' clients do."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        compressed = gzip.compress(await request.aread())
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
        sent = httpx.Request(
            request.method,
            request.url,
            headers=[*headers, ("Content-Encoding", "gzip")],
            content=compressed,
            extensions=request.extensions,
        )
        return await super().handle_async_request(sent)


async def test_the_openai_sdk_through_a_gzipping_client(start_proxy: StartProxy, upstream: RecordingUpstream) -> None:
    proxy = await start_proxy(RULES, upstreams=[f"openai={upstream.url}/openai"])
    sdk = openai.AsyncOpenAI(
        base_url=f"{proxy.url}/openai/v1",
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=GzipTransport()),
    )
    messages: list[dict[str, str]] = [{"role": "user", "content": "hi"}]
    try:
        with pytest.raises(openai.InternalServerError) as raised:
            await sdk.chat.completions.create(model="faulty", messages=messages)  # type: ignore[arg-type]
        assert raised.value.status_code == 503
        await sdk.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    finally:
        await sdk.close()
    [(coding, raw)] = upstream.received
    assert coding == "gzip" and json.loads(gzip.decompress(raw))["model"] == "gpt-4o"


async def test_a_bomb_is_read_as_no_body_logged_once_and_forwarded_as_sent(
    start_proxy: StartProxy,
    upstream: RecordingUpstream,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(flows, "_refusal_logged", False)
    proxy = await start_proxy(RULES, upstreams=[f"openai={upstream.url}/openai"])
    # A valid request for the faulty model whose one message is 10 MB of "a": 10 KB of gzip. Were it
    # expanded, the rule would fire; refused, the model reads as unknown and the request passes.
    encoder = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head, tail = chat("faulty").split(b"Name a river.")
    bomb = encoder.compress(head) + b"".join(encoder.compress(b"a" * 1_000_000) for _ in range(10))
    bomb += encoder.compress(tail) + encoder.flush()
    assert len(bomb) < 20_000
    caplog.set_level(logging.WARNING, logger="brownout.mitm.flows")
    async with httpx.AsyncClient(timeout=20) as client:
        ticks: list[float] = []

        async def tick() -> None:  # how long the loop is held: a client's view of the proxy answering
            for _ in range(20):
                started = time.perf_counter()
                assert (await post(client, proxy.url, gzip.compress(chat("gpt-4o")), "gzip")).status_code == 200
                ticks.append(time.perf_counter() - started)

        answers = await asyncio.gather(*(post(client, proxy.url, bomb, "gzip") for _ in range(5)), tick())
    assert [answer.status_code for answer in answers[:5]] == [200] * 5
    assert upstream.received.count(("gzip", bomb)) == 5
    refusals = [r.getMessage() for r in caplog.records if "request body not read" in r.getMessage()]
    assert len(refusals) == 1, refusals
    assert refusals[0].startswith("brownout: POST '/openai/v1/chat/completions': request body not read")
    assert "decompression bomb" in refusals[0]
    started = [e for e in proxy.state.record.snapshot().events if isinstance(e, AttemptStarted)]
    assert {e.model for e in started} == {"", "gpt-4o"}
    assert max(ticks) < 2.0, ticks  # the bombs never held the other requests up for long
