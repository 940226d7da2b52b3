"""Upstreams that fail by saying nothing, on 127.0.0.1: real TCP servers for the time-limit tests.

- `SilentUpstream`: accepts, reads the request, never answers (the connection stays open);
- `StallingUpstream`: answers the headers and the first `events` SSE events (or the first bytes of
  a JSON body), then goes silent;
- `ClosingUpstream`: accepts, reads the request, closes without a byte;
- `full_backlog()`: a listening socket whose accept queue is full, so a connect to it hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator

from sse_upstream import openai_chat_events


class Upstream:
    """A TCP server on 127.0.0.1; `url` for `--upstream openai={url}/openai`."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.requests = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Upstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._writers:
            writer.close()
        assert self.server is not None
        self.server.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            self.requests += 1
            await self.answer(writer)
            await reader.read()  # hold the connection until the other side closes it

    async def answer(self, writer: asyncio.StreamWriter) -> None:
        """Nothing at all."""


class SilentUpstream(Upstream):
    pass


class ClosingUpstream(Upstream):
    async def answer(self, writer: asyncio.StreamWriter) -> None:
        writer.close()


class StallingUpstream(Upstream):
    """Headers and `events` events of an OpenAI chat stream (or, `stream=False`, half a JSON body), then silence."""

    def __init__(self, events: int = 2, stream: bool = True) -> None:
        super().__init__()
        self.events = events
        self.stream = stream

    async def answer(self, writer: asyncio.StreamWriter) -> None:
        if self.stream:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            for event in openai_chat_events(self.events)[: self.events + 1]:
                data = event.encode()
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            body = json.dumps({"id": "chatcmpl-x", "object": "chat.completion", "choices": []}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body))
            writer.write(body[: len(body) // 2])
        await writer.drain()


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """The port of a listener that never accepts and whose queue is full: a connect there hangs
    (Linux drops the SYN), as a firewall that drops packets would have it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
