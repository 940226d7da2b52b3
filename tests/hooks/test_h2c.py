"""HTTP/2 with prior knowledge (h2c) on brownout's port, beside HTTP/1.1 and TLS with ALPN h2."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import httpx

from brownout.cli.runner import RunningProxy
from conftest import StartProxy
from proxykit import h2_client

RULES = """\
rules:
  - match: {model: faulty}
    fault: {type: error, status: 503}
  - match: {model: cut}
    fault: {type: stream_cut, after_events: 2}
"""
CHAT = "/openai/v1/chat/completions"


def chat(model: str, stream: bool = False) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


async def test_prior_knowledge_clients_are_served_http2(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(RULES)
    async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:  # h2c with prior knowledge
        plain, faulty = await asyncio.gather(
            client.post(proxy.url + CHAT, json=chat("gpt-4o")), client.post(proxy.url + CHAT, json=chat("faulty"))
        )
        assert (plain.http_version, plain.status_code) == ("HTTP/2", 200)
        assert plain.json()["object"] == "chat.completion"
        assert (faulty.http_version, faulty.status_code) == ("HTTP/2", 503)
        async with client.stream("POST", proxy.url + CHAT, json=chat("gpt-4o", stream=True)) as response:
            body = (await response.aread()).decode()
        assert response.http_version == "HTTP/2" and body.rstrip().endswith("data: [DONE]")
        # A stream fault acts as on any HTTP/2 stream: the stream is reset, the connection lives on.
        try:
            async with client.stream("POST", proxy.url + CHAT, json=chat("cut", stream=True)) as response:
                await response.aread()
            raise AssertionError("the cut stream ended whole")
        except httpx.RemoteProtocolError:
            pass
        again = await client.post(proxy.url + CHAT, json=chat("gpt-4o"))
        assert (again.http_version, again.status_code) == ("HTTP/2", 200)


async def test_http1_and_tls_h2_on_the_same_port(start_proxy: StartProxy, tmp_path: Path) -> None:
    proxy = await start_proxy(RULES, extra_options={"confdir": str(tmp_path)})
    async with httpx.AsyncClient(timeout=10) as client:
        plain = await client.post(proxy.url + CHAT, json=chat("gpt-4o"))
    assert (plain.http_version, plain.status_code) == ("HTTP/1.1", 200)
    async with h2_client(tmp_path, timeout=10) as client:
        tls = await client.post(proxy.url.replace("http://", "https://") + CHAT, json=chat("faulty"))
    assert (tls.http_version, tls.status_code) == ("HTTP/2", 503)


async def h2c_exchange(port: int, first_bytes: int, pause: float) -> tuple[int, dict[str, object]]:
    """One request over cleartext HTTP/2, the preface sent in two writes `pause` apart."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    opening = conn.data_to_send()
    writer.write(opening[:first_bytes])
    await writer.drain()
    await asyncio.sleep(pause)
    body = json.dumps(chat("gpt-4o")).encode()
    headers = [(":method", "POST"), (":path", CHAT), (":scheme", "http"), (":authority", f"127.0.0.1:{port}")]
    conn.send_headers(1, [*headers, ("content-type", "application/json"), ("content-length", str(len(body)))])
    conn.send_data(1, body, end_stream=True)
    writer.write(opening[first_bytes:] + conn.data_to_send())
    await writer.drain()
    status, data = 0, b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=10)
            if not chunk:
                raise AssertionError("the proxy closed the connection without an answer")
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    data += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    return status, json.loads(data)
            writer.write(conn.data_to_send())
    finally:
        writer.close()


async def test_a_preface_that_arrives_in_pieces(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    for first_bytes in (1, 3, 10, 23):  # "P" could still be "POST": the proxy waits for more
        status, answer = await h2c_exchange(proxy.port, first_bytes, pause=0.05)
        assert status == 200 and answer["object"] == "chat.completion", first_bytes


async def raw_http1(proxy: RunningProxy, request: bytes, pause_after: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(request[:pause_after])
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(request[pause_after:])
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    writer.close()
    return head


async def test_http1_requests_that_begin_like_the_preface_and_h2c_upgrades(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    body = json.dumps(chat("gpt-4o")).encode()
    request = (
        f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    ).encode()
    # "P" alone could begin the preface: the proxy waits for more, then serves HTTP/1.1.
    head = await raw_http1(proxy, request + b"\r\n" + body, pause_after=1)
    assert head.startswith(b"HTTP/1.1 200 ")
    # An upgrade to h2c is not taken: mitmproxy drops the Upgrade header and answers in HTTP/1.1.
    upgrade = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
    head = await raw_http1(proxy, request + upgrade + b"\r\n" + body, pause_after=len(request))
    assert head.startswith(b"HTTP/1.1 200 ")
