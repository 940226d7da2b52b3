"""The stream adapter against the installed mitmproxy: it must fit, and every stream fault must
look to HTTP/1.1 and HTTP/2 clients as it does from a real provider, without touching other streams.

If this file fails after a mitmproxy upgrade, `brownout.mitm.relay` no longer fits it: time-based
stream faults fall back to content-only until the adapter is updated.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mitmproxy import version

from brownout.cli.runner import RunningProxy
from brownout.faults.stream.plan import StreamPlan
from brownout.faults.stream.slow import StreamSlowFault
from brownout.mitm import compat
from brownout.mitm import relay
from proxykit import StreamResult
from proxykit import h1_client
from proxykit import h2_client
from proxykit import proxy_for
from proxykit import read_stream
from proxykit import switch_to
from sse_upstream import SseUpstream

EVENTS = 10  # content events per stream: 13 events in all with the role chunk, the finish chunk and [DONE]
TOTAL = EVENTS + 3


def test_the_adapter_fits_the_installed_mitmproxy() -> None:
    problems = compat.check()
    assert not problems, (
        f"brownout.mitm.relay does not fit mitmproxy {version.VERSION}: time-based stream faults "
        "(stream_slow, stream_stall, stream_cut) are switched off on it. Update the adapter:\n- "
        + "\n- ".join(problems)
    )
    assert compat.install().enabled


def test_install_patches_once() -> None:
    from mitmproxy.proxy.layers.http import HttpStream

    compat.install()
    patched = HttpStream.start_response_stream
    compat.install()
    assert HttpStream.start_response_stream is patched
    assert patched.__brownout__  # type: ignore[attr-defined]
    assert not getattr(patched.__wrapped__, "__brownout__", False)  # type: ignore[attr-defined]


@dataclass
class Rig:
    upstream: SseUpstream
    proxy: RunningProxy
    confdir: Path

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def tls_url(self) -> str:
        return self.proxy.url.replace("http://", "https://")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with SseUpstream(events=EVENTS, gap=0.01) as upstream, proxy_for(upstream.url, tmp_path) as proxy:
        yield Rig(upstream, proxy, tmp_path)


@dataclass
class Case:
    fault: str
    events: int  # events the client receives
    done: bool  # whether it sees [DONE]
    h1_error: type[BaseException] | None
    h2_error: type[BaseException] | None
    min_elapsed: float = 0.0
    max_elapsed: float = 5.0


PROTOCOL = httpx.RemoteProtocolError  # HTTP/1.1: incomplete chunked read; HTTP/2: RST_STREAM
RESET = httpx.ReadError  # ECONNRESET
CASES = {
    "cut-close": Case("{type: stream_cut, after_events: 3}", 3, False, PROTOCOL, PROTOCOL),
    "cut-reset": Case("{type: stream_cut, after_events: 3, mode: reset}", 3, False, RESET, PROTOCOL),
    "cut-bytes": Case("{type: stream_cut, after_bytes: 1}", 0, False, PROTOCOL, PROTOCOL),
    "cut-time": Case("{type: stream_cut, after: 60ms}", -1, False, PROTOCOL, PROTOCOL, 0.05, 0.5),
    "stall-resume": Case("{type: stream_stall, after_events: 2, duration: 500ms}", TOTAL, True, None, None, 0.5, 2),
    "stall-close": Case(
        "{type: stream_stall, after_events: 2, duration: 300ms, then: close}", 2, False, PROTOCOL, PROTOCOL, 0.3, 1.5
    ),
    "error": Case("{type: stream_error, after_events: 5}", 7, True, None, None),
    "slow": Case("{type: stream_slow, per_event: 40ms}", TOTAL, True, None, None, TOTAL * 0.04, 3.0),
    "corrupt": Case("{type: stream_corrupt, mode: duplicate, after_events: 4}", TOTAL + 1, True, None, None),
}


@pytest.mark.parametrize("protocol", ["http1", "http2"])
async def test_every_stream_fault_as_clients_see_it(rig: Rig, protocol: str) -> None:
    """One faulted stream and two plain ones at a time; on HTTP/2 all three share a connection."""
    client = h1_client() if protocol == "http1" else h2_client(rig.confdir)
    url = rig.url if protocol == "http1" else rig.tls_url
    async with client:
        for name, case in CASES.items():
            switch_to(rig.proxy, case.fault)
            faulty, *others = await asyncio.gather(
                read_stream(client, url, "faulty"), read_stream(client, url), read_stream(client, url)
            )
            expected_error = case.h1_error if protocol == "http1" else case.h2_error
            what = f"{name} over {protocol}: {faulty}"
            if expected_error is None:
                assert faulty.error is None, what
            else:
                assert isinstance(faulty.error, expected_error), what
            if case.events >= 0:
                assert len(faulty.events) == case.events, what
            else:
                assert 0 < len(faulty.events) < TOTAL, what
            assert faulty.done == case.done, what
            assert case.min_elapsed <= faulty.elapsed <= case.max_elapsed, what
            for other in others:
                assert other.error is None and other.done and len(other.events) == TOTAL, f"{name}: {other}"
                assert other.http_version == ("HTTP/1.1" if protocol == "http1" else "HTTP/2")


async def test_the_error_event_follows_the_first_events(rig: Rig) -> None:
    switch_to(rig.proxy, "{type: stream_error, after_events: 5}")
    async with h1_client() as client:
        result = await read_stream(client, rig.url, "faulty")
    chunks = [json.loads(e) for e in result.events[:-1]]
    assert [c["choices"][0]["delta"].get("content") for c in chunks[:5]] == ["", " tok0", " tok1", " tok2", " tok3"]
    assert chunks[5]["error"]["type"] == "server_error"
    assert result.events[-1] == "[DONE]"


async def test_pass_through_streams_are_byte_identical(rig: Rig) -> None:
    switch_to(rig.proxy, None)
    async with h1_client() as client:
        for chunking in ("event", "joined", "split"):
            for path in ("/openai/v1/chat/completions", "/anthropic/v1/messages"):
                direct = await read_stream(client, rig.upstream.url, path=path, **{"x-test-chunking": chunking})
                proxied = await read_stream(client, rig.url, path=path, **{"x-test-chunking": chunking})
                assert proxied.raw == direct.raw and proxied.error is None


async def test_a_long_stall_does_not_slow_other_traffic(rig: Rig) -> None:
    """A 10 s stall on one HTTP/1.1 and one HTTP/2 stream while 50 other requests of each kind
    (streams, and plain requests to the upstream) complete at their normal speed; on HTTP/2 the
    others share the stalled stream's connection."""
    switch_to(rig.proxy, "{type: stream_stall, after_events: 3, duration: 10s}")
    async with h1_client(limits=httpx.Limits(max_connections=60)) as h1, h2_client(rig.confdir) as h2:

        async def others(client: httpx.AsyncClient, url: str) -> list[StreamResult]:
            return list(await asyncio.gather(*(read_stream(client, url) for _ in range(50))))

        start = time.monotonic()
        baseline = [*await others(h1, rig.url), *await others(h2, rig.tls_url)]
        baseline_time = time.monotonic() - start
        stalled = [
            asyncio.create_task(read_stream(h1, rig.url, "faulty")),
            asyncio.create_task(read_stream(h2, rig.tls_url, "faulty")),
        ]
        await asyncio.sleep(0.3)  # both stalls under way
        start = time.monotonic()
        during = [*await others(h1, rig.url), *await others(h2, rig.tls_url)]
        during_time = time.monotonic() - start
        for task in stalled:
            assert not task.done(), "the stalled streams are still silent"
        slow_results = await asyncio.gather(*stalled)
    print(f"100 streams: {baseline_time:.2f} s without a stall, {during_time:.2f} s beside two 10 s stalls")
    for result in [*baseline, *during]:
        assert result.error is None and result.done and len(result.events) == TOTAL
    # The same 100 streams take about as long as without the stall (generous bound for a busy CI box).
    assert during_time < max(3 * baseline_time, baseline_time + 1.5), (baseline_time, during_time)
    for result in slow_results:
        assert result.done and len(result.events) == TOTAL
        gap = result.times[3] - result.times[2]
        assert 9.9 <= gap <= 11.5, result.times


async def test_long_holds_are_taken_in_steps(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    # Steps keep mitmproxy's inactivity watchdog from closing a connection during a long stall.
    monkeypatch.setattr(relay, "MAX_WAIT", 0.05)
    switch_to(rig.proxy, "{type: stream_stall, after_events: 2, duration: 400ms}")
    async with h1_client() as client:
        result = await read_stream(client, rig.url, "faulty")
    assert result.done and len(result.events) == TOTAL
    assert 0.38 <= result.times[2] - result.times[1] <= 1.0


async def test_stored_bodies_are_what_the_client_received(rig: Rig) -> None:
    class Keep:
        def __init__(self) -> None:
            self.bodies: list[bytes | None] = []

        def response(self, flow) -> None:  # type: ignore[no-untyped-def]
            self.bodies.append(flow.response.content)

    keep = Keep()
    rig.proxy.master.addons.add(keep)
    rig.proxy.master.options.update(store_streamed_bodies=True)
    switch_to(rig.proxy, "{type: stream_error, after_events: 3}")
    async with h1_client() as client:
        result = await read_stream(client, rig.url, "faulty")
    assert keep.bodies == [result.raw]


async def test_other_addons_stream_functions_see_the_upstream_bytes(rig: Rig) -> None:
    class Reader:
        def __init__(self) -> None:
            self.seen = b""

        def responseheaders(self, flow) -> None:  # type: ignore[no-untyped-def]
            def read(data: bytes) -> bytes:
                self.seen += data
                return data

            flow.response.stream = read

    reader = Reader()
    rig.proxy.master.addons.add(reader)
    switch_to(rig.proxy, "{type: stream_cut, after_events: 100}", match="{stream: true}")
    async with h1_client() as client:
        direct = await read_stream(client, rig.upstream.url)
        result = await read_stream(client, rig.url)
    assert reader.seen == direct.raw == result.raw


async def test_many_concurrent_faulted_streams(rig: Rig) -> None:
    switch_to(rig.proxy, "{type: stream_slow, per_event: 20ms}", match="{stream: true}")
    async with h1_client(limits=httpx.Limits(max_connections=150)) as client:
        start = time.monotonic()
        results = await asyncio.gather(*(read_stream(client, rig.url) for _ in range(100)))
        elapsed = time.monotonic() - start
    assert all(r.error is None and r.done and len(r.events) == TOTAL for r in results)
    assert all(r.elapsed >= TOTAL * 0.02 for r in results)
    assert elapsed < 15


async def test_a_client_leaving_a_stall_ends_the_flow_at_once(rig: Rig) -> None:
    switch_to(rig.proxy, "{type: stream_stall, after_events: 2, duration: 60s}")
    registry = rig.proxy.state.metrics.registry
    labels = {"provider": "openai", "endpoint": "chat", "outcome": "abandoned"}
    async with h1_client() as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await read_stream(client, rig.url, "faulty")
    for _ in range(100):
        if registry.get_sample_value(
            "brownout_streams_total", {"provider": "openai", "endpoint": "chat", "outcome": "abandoned"}
        ):
            break
        await asyncio.sleep(0.02)
    labels = {"provider": "openai", "endpoint": "chat", "outcome": "abandoned"}
    assert registry.get_sample_value("brownout_streams_total", labels) == 1
    assert registry.get_sample_value("brownout_inflight_requests", {"provider": "openai"}) == 0


@pytest.mark.usefixtures("own_fault_registry")
async def test_a_failing_plan_falls_back_to_pass_through(rig: Rig) -> None:
    class ExplodingPlanFault(StreamSlowFault):
        type_name = "test_exploding_stream"

        def plan(self, info):  # type: ignore[no-untyped-def]
            class Exploding(StreamPlan):
                def feed(self, data: bytes, now: float) -> list:  # type: ignore[type-arg]
                    raise RuntimeError("bug in a stream plan")

            return Exploding()

    switch_to(rig.proxy, "{type: test_exploding_stream, per_event: 1s}")
    async with h1_client() as client:
        result = await read_stream(client, rig.url, "faulty")
    assert result.error is None and result.done and len(result.events) == TOTAL and result.elapsed < 2
    errors = rig.proxy.state.metrics.registry.get_sample_value(
        "brownout_fault_errors_total", {"fault": "test_exploding_stream"}
    )
    assert errors == 1


async def test_with_the_adapter_off_content_faults_still_apply(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "_status", compat.Status(False, "test: pretend mitmproxy does not fit"))
    async with h1_client() as client:
        switch_to(rig.proxy, "{type: stream_error, after_events: 2}")
        errored = await read_stream(client, rig.url, "faulty")
        switch_to(rig.proxy, "{type: stream_slow, per_event: 1s}")
        slow = await read_stream(client, rig.url, "faulty")
    assert json.loads(errored.events[2])["error"]["type"] == "server_error" and len(errored.events) == 4
    assert slow.done and slow.elapsed < 2  # pacing is off: pass-through timing
