"""Helpers for end-to-end stream tests: a brownout proxy in front of an upstream, clients for
HTTP/1.1 and HTTP/2 (through the proxy's TLS, with its CA), and a reader that records events."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import httpx

from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy
from brownout.scenario.compile import parse_scenario


class H2OnlyContext(ssl.SSLContext):
    """httpx offers ALPN `http/1.1, h2` in that order and mitmproxy honours the client's order,
    so an HTTP/2 test client must offer `h2` alone."""

    def set_alpn_protocols(self, protocols: list[str]) -> None:  # type: ignore[override]
        super().set_alpn_protocols(["h2"])


def h2_client(confdir: Path, timeout: float = 30) -> httpx.AsyncClient:
    ctx = H2OnlyContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(confdir / "mitmproxy-ca-cert.pem")
    return httpx.AsyncClient(http1=False, http2=True, verify=ctx, timeout=timeout)


async def h2_request_then_reset(
    port: int, confdir: Path, path: str, body: bytes, wait: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send one HTTP/2 request, wait, then reset its stream (RST_STREAM CANCEL), as a client that
    gives up does; the connection stays open (the caller closes it). httpx cannot: on a timeout it
    drops the stream without a reset."""
    tls = ssl.create_default_context(cafile=str(confdir / "mitmproxy-ca-cert.pem"))
    tls.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls, server_hostname="127.0.0.1")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    stream_id = conn.get_next_available_stream_id()
    headers = [(":method", "POST"), (":path", path), (":scheme", "https"), (":authority", f"127.0.0.1:{port}")]
    conn.send_headers(stream_id, [*headers, ("content-type", "application/json")])
    conn.send_data(stream_id, body, end_stream=True)
    writer.write(conn.data_to_send())
    await writer.drain()
    await asyncio.sleep(wait)
    conn.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
    writer.write(conn.data_to_send())
    await writer.drain()
    return reader, writer


def h1_client(timeout: float = 30, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, **kwargs)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def proxy_for(upstream_url: str, confdir: Path, **settings: object) -> AsyncIterator[RunningProxy]:
    settings = {"port": 0, "admin_port": 0, **settings}
    proxy_settings = ProxySettings(
        upstreams=[
            f"openai={upstream_url}/openai",
            f"anthropic={upstream_url}/anthropic",
            f"gemini={upstream_url}/gemini",
        ],
        verbosity="error",
        extra_options={"confdir": str(confdir)},
        **settings,  # type: ignore[arg-type]
    )
    async with RunningProxy(proxy_settings) as proxy:
        yield proxy


def switch_to(proxy: RunningProxy, fault: str | None, match: str = "{model: faulty}") -> None:
    """Make `fault` the one active rule (for requests whose model is `faulty`); None: no fault."""
    proxy.state.clear()
    if fault is None:
        return
    text = f"rules:\n  - match: {match}\n    fault: {fault}\n"
    proxy.state.engine.load(parse_scenario(text, "case.yaml", default_name="case"))
    proxy.state.activate("case")


@dataclass
class StreamResult:
    events: list[str] = field(default_factory=list)  # the data of every event, in order
    times: list[float] = field(default_factory=list)  # seconds from the request's start
    raw: bytes = b""
    error: BaseException | None = None
    elapsed: float = 0.0
    http_version: str = ""

    @property
    def done(self) -> bool:
        return bool(self.events) and self.events[-1] == "[DONE]"


async def read_stream(
    client: httpx.AsyncClient, url: str, model: str = "ok", path: str = "/openai/v1/chat/completions", **headers: str
) -> StreamResult:
    result = StreamResult()
    start = time.monotonic()
    buffer = b""
    try:
        async with client.stream(
            "POST", url + path, json={"model": model, "stream": True, "messages": []}, headers=headers
        ) as response:
            result.http_version = response.http_version
            async for chunk in response.aiter_raw():
                result.raw += chunk
                buffer += chunk.replace(b"\r\n", b"\n")
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    data = [line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:")]
                    result.events.append(b"\n".join(data).decode())
                    result.times.append(time.monotonic() - start)
    except httpx.HTTPError as exc:
        result.error = exc
    result.elapsed = time.monotonic() - start
    return result
