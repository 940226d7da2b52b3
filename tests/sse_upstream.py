"""A small upstream for stream tests: provider-shaped SSE with a chosen count and pace of events.

Each request may set `x-test-events` (content events), `x-test-gap-ms` (pause between events) and
`x-test-chunking` (`event`: one write per event; `joined`: all events in one write; `split`: every
event written in two halves with a pause between them), so one server serves every test case.
Routes follow the providers' paths under /openai, /anthropic and /gemini, as the simulator's do.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from aiohttp import web

CRLF = "\r\n"


def openai_chat_events(n: int) -> list[str]:
    base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini"}
    frames = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    for i in range(n):
        frames.append({**base, "choices": [{"index": 0, "delta": {"content": f" tok{i}"}, "finish_reason": None}]})
    frames.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return [f"data: {json.dumps(f)}\n\n" for f in frames] + ["data: [DONE]\n\n"]


def anthropic_events(n: int) -> list[str]:
    def ev(name: str, data: dict) -> str:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n"

    message = {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-haiku-4-5",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }
    out = [
        ev("message_start", {"type": "message_start", "message": message}),
        ev(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        ev("ping", {"type": "ping"}),
    ]
    for i in range(n):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f" tok{i}"}}
        out.append(ev("content_block_delta", delta))
    out += [
        ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n},
            },
        ),
        ev("message_stop", {"type": "message_stop"}),
    ]
    return out


def gemini_events(n: int) -> list[str]:
    out = []
    for i in range(n):
        candidate: dict = {"content": {"parts": [{"text": f" tok{i}"}], "role": "model"}, "index": 0}
        if i == n - 1:
            candidate["finishReason"] = "STOP"
        chunk = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "test"}
        out.append(f"data: {json.dumps(chunk)}{CRLF}{CRLF}")
    return out


def responses_events(n: int) -> list[str]:
    seq = 0
    out = []

    def ev(data: dict) -> None:
        nonlocal seq
        data["sequence_number"] = seq
        seq += 1
        out.append(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n")

    response = {"id": "resp_test", "object": "response", "created_at": 1756000000, "status": "in_progress"}
    response |= {"model": "gpt-4o-mini", "output": []}
    ev({"type": "response.created", "response": response})
    for i in range(n):
        ev(
            {
                "type": "response.output_text.delta",
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": f" tok{i}",
                "logprobs": [],
            }
        )
    ev({"type": "response.completed", "response": {**response, "status": "completed"}})
    return out


FORMATS = {
    "openai-chat": openai_chat_events,
    "openai-responses": responses_events,
    "anthropic": anthropic_events,
    "gemini": gemini_events,
}


class SseUpstream:
    """`async with SseUpstream() as up: up.url` — served on 127.0.0.1, a free port."""

    def __init__(self, events: int = 10, gap: float = 0.02) -> None:
        self.events = events
        self.gap = gap
        self.url = ""
        self.served = 0
        self.cancelled = 0
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> SseUpstream:
        app = web.Application()
        app.router.add_post("/openai/v1/chat/completions", self._handler("openai-chat"))
        app.router.add_post("/openai/v1/responses", self._handler("openai-responses"))
        app.router.add_post("/anthropic/v1/messages", self._handler("anthropic"))
        app.router.add_post("/gemini/v1beta/models/{model}:streamGenerateContent", self._handler("gemini"))
        # Claude on Vertex AI and in Azure AI Foundry: Anthropic's stream behind those platforms' paths.
        app.router.add_post("/gemini/v1/projects/{rest:.+}:streamRawPredict", self._handler("anthropic"))
        app.router.add_post("/azure/anthropic/v1/messages", self._handler("anthropic"))
        app.router.add_get("/plain", self._plain)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _plain(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "at": time.time()})

    def _handler(self, fmt: str):  # type: ignore[no-untyped-def]
        async def handle(request: web.Request) -> web.StreamResponse:
            self.served += 1
            await request.read()
            n = int(request.headers.get("x-test-events", self.events))
            gap = float(request.headers.get("x-test-gap-ms", self.gap * 1000)) / 1000
            chunking = request.headers.get("x-test-chunking", "event")
            content_type = "text/event-stream; charset=utf-8" if fmt != "gemini" else "text/event-stream"
            response = web.StreamResponse(headers={"content-type": content_type, "cache-control": "no-cache"})
            await response.prepare(request)
            try:
                async for piece in self._pieces(FORMATS[fmt](n), gap, chunking):
                    await response.write(piece)
                await response.write_eof()
            except ConnectionError:
                self.cancelled += 1  # the proxy cut the stream and cancelled this request
            return response

        return handle

    async def _pieces(self, events: list[str], gap: float, chunking: str) -> AsyncIterator[bytes]:
        if chunking == "joined":
            yield "".join(events).encode()
            return
        for i, event in enumerate(events):
            if i and gap:
                await asyncio.sleep(gap)
            data = event.encode()
            if chunking == "split":
                yield data[: len(data) // 2]
                await asyncio.sleep(0.005)
                yield data[len(data) // 2 :]
            else:
                yield data
