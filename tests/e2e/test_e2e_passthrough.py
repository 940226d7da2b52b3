"""With no fault firing, what the client receives is byte-identical to a direct call."""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import AsyncIterator

import anthropic
import httpx
import openai
import pytest
from aiohttp import web

from brownout.sim import SimConfig
from brownout.sim import SimServer
from conftest import StartProxy

NOT_FIRING = "rules:\n  - match: {provider: gemini}\n    fault: {type: error, status: 500}\n"


class RandomUpstream:
    """Answers with random bytes and odd headers, so nothing can pass by luck."""

    def __init__(self) -> None:
        self.json_body = b'{"id": "' + os.urandom(24).hex().encode() + b'", "x": "\xc3\xa9\\u00e9"}'
        self.gzip_body = gzip.compress(os.urandom(3000))
        self.events = [b"event: delta\ndata: " + os.urandom(8).hex().encode() + b"\n\n" for _ in range(30)]
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _json(self, request: web.Request) -> web.Response:
        await request.read()
        return web.Response(
            body=self.json_body,
            headers={"Content-Type": "application/json", "X-Request-Id": "req_abc", "X-Odd-Header": "a, b;c"},
        )

    async def _gzip(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.gzip_body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )

    async def _sse(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        for event in self.events:
            await response.write(event[:7])  # events split across chunks, as networks do
            await response.write(event[7:])
            await asyncio.sleep(0.002)
        await response.write_eof()
        return response

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/openai/v1/chat/completions", self._json)
        app.router.add_get("/openai/v1/gzip", self._gzip)
        app.router.add_post("/openai/v1/responses", self._sse)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        if self._runner:
            await self._runner.cleanup()


@pytest.fixture
async def random_upstream() -> AsyncIterator[RandomUpstream]:
    upstream = RandomUpstream()
    await upstream.start()
    yield upstream
    await upstream.close()


async def fetch(client: httpx.AsyncClient, method: str, url: str) -> tuple[int, list[tuple[str, str]], bytes]:
    async with client.stream(method, url, json={"model": "gpt-4o", "stream": True}) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        headers = [(k.lower(), v) for k, v in response.headers.multi_items() if k.lower() != "date"]
        return response.status_code, headers, raw


@pytest.mark.parametrize(
    "method,path",
    [("POST", "/chat/completions"), ("GET", "/gzip"), ("POST", "/responses")],
    ids=["json", "gzip", "sse"],
)
async def test_bytes_and_headers_are_untouched(
    start_proxy: StartProxy, random_upstream: RandomUpstream, method: str, path: str
) -> None:
    proxy = await start_proxy(NOT_FIRING, upstreams=[f"openai={random_upstream.url}/openai"])
    async with httpx.AsyncClient() as client:
        direct = await fetch(client, method, f"{random_upstream.url}/openai/v1{path}")
        proxied = await fetch(client, method, f"{proxy.url}/openai/v1{path}")
    assert proxied == direct


async def test_official_sdks_get_what_a_direct_call_gets(start_proxy: StartProxy, tmp_path: object) -> None:
    async with SimServer(SimConfig(tokens_per_second=0, fixed_clock=1_760_000_000.0)) as sim:
        proxy = await start_proxy(NOT_FIRING, upstreams=[f"openai={sim.url}/openai", f"anthropic={sim.url}/anthropic"])
        messages = [{"role": "user", "content": "Name three rivers."}]

        async def openai_raw(base: str, stream: bool) -> tuple[bytes, list[tuple[str, str]]]:
            client = openai.AsyncOpenAI(base_url=f"{base}/openai/v1", api_key="sk-test", max_retries=0)
            raw = await client.chat.completions.with_raw_response.create(
                model="gpt-4o",
                messages=messages,
                stream=stream,  # type: ignore[arg-type]
            )
            body = await raw.http_response.aread()
            return body, [(k, v) for k, v in raw.headers.multi_items() if k != "date"]

        async def anthropic_raw(base: str) -> tuple[bytes, list[tuple[str, str]]]:
            client = anthropic.AsyncAnthropic(base_url=f"{base}/anthropic", api_key="k", max_retries=0)
            raw = await client.messages.with_raw_response.create(
                model="claude-haiku-4-5",
                max_tokens=100,
                messages=messages,  # type: ignore[arg-type]
            )
            body = await raw.http_response.aread()
            return body, [(k, v) for k, v in raw.headers.multi_items() if k != "date"]

        for stream in (False, True):
            assert await openai_raw(proxy.url, stream) == await openai_raw(sim.url, stream)
        assert await anthropic_raw(proxy.url) == await anthropic_raw(sim.url)
