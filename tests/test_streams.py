import json

import pytest
from mitmproxy import http
from mitmproxy.test import taddons
from mitmproxy.test import tflow

from brownout.classify.request import RequestInfo
from brownout.engine.state import Brownout
from brownout.faults.base import FaultRun
from brownout.faults.stream.cut import StreamCutFault
from brownout.faults.stream.error import StreamErrorFault
from brownout.faults.stream.plan import Hold
from brownout.faults.stream.plan import Send
from brownout.faults.stream.plan import StreamPlan
from brownout.hooks.injector import Injector
from brownout.hooks.recorder import Recorder
from brownout.hooks.streams import EventCounter
from brownout.hooks.streams import Streams
from brownout.hooks.streams import StreamSession
from brownout.hooks.streams import arm
from brownout.hooks.streams import passthrough
from brownout.hooks.streams import session_of
from brownout.hooks.streams import stream_outcome
from brownout.hooks.streams import sync_relay
from brownout.mitm import relay as mitm_stream
from conftest import state_with
from sse_upstream import anthropic_events
from sse_upstream import gemini_events
from sse_upstream import openai_chat_events

CHAT = RequestInfo("openai", "chat", "gpt-4o", True)


def test_event_counter_counts_whole_events_across_chunks() -> None:
    for events in (openai_chat_events(3), anthropic_events(3), gemini_events(3)):
        body = "".join(events).encode()
        for size in (1, 2, 3, 5, 64, len(body)):
            counter = EventCounter()
            for i in range(0, len(body), size):
                counter.feed(body[i : i + size])
            assert counter.events == len(events), (size, events[0][:20])


def test_event_counter_skips_comments() -> None:
    counter = EventCounter()
    assert counter.feed(b": keep-alive\n\ndata: 1\n\n:") == 1
    assert counter.feed(b" ping\n\ndata: 2\n") == 0
    assert counter.feed(b"\n") == 1


def test_passthrough_is_the_identity_and_times_the_first_event() -> None:
    session = StreamSession()
    relay = passthrough(session)
    assert relay(b"data: 1") == b"data: 1"
    assert session.first_event_at is None
    assert relay(b"\n\n") == b"\n\n"
    assert session.first_event_at is not None and session.counter.events == 1
    assert relay(b"") == []  # never b"": HTTP/1 would read it as the end of the body


def test_sync_relay_applies_content_and_never_returns_empty_bytes() -> None:
    session = StreamSession()
    events = [e.encode() for e in openai_chat_events(4)]
    relay = sync_relay(StreamErrorFault(after_events=2).plan(CHAT), session)
    out = [relay(e) for e in events] + [relay(b"")]
    assert out[0] == [events[0]] and out[1] == [events[1]]
    (error,) = out[2]
    assert error.startswith(b'data: {"error":') and error.endswith(b"data: [DONE]\n\n")
    assert all(piece == [] for piece in out[3:])  # the rest is dropped
    assert session.counter.events == 4


def test_another_addons_stream_function_still_runs_first() -> None:
    seen: list[bytes] = []

    def reader(data: bytes) -> list[bytes]:
        seen.append(data)
        return [data.replace(b"tok", b"TOK")] if data else []

    events = [e.encode() for e in openai_chat_events(2)]
    relay = passthrough(StreamSession(), reader)
    assert [relay(e) for e in events] == [[e.replace(b"tok", b"TOK")] for e in events]
    plan_relay = sync_relay(StreamErrorFault(after_events=5).plan(CHAT), StreamSession(), inner=reader)
    assert [plan_relay(e) for e in events] + [plan_relay(b"")] == [[e.replace(b"tok", b"TOK")] for e in events] + [[]]
    assert seen == events * 2 + [b""]


def test_sync_relay_ignores_holds() -> None:
    class Slow(StreamPlan):
        def feed(self, data: bytes, now: float) -> list:  # type: ignore[type-arg]
            return [Hold(now + 60), Send(data)]

    assert sync_relay(Slow(), StreamSession())(b"data: 1\n\n") == [b"data: 1\n\n"]


def test_stream_outcome() -> None:
    assert stream_outcome("", None) == "completed"
    assert stream_outcome("slowed", None) == "slowed"
    assert stream_outcome("stream_error", None) == "errored"
    assert stream_outcome("cut", "brownout: stream cut (close)") == "cut"
    assert stream_outcome("reset", "brownout: stream cut (reset)") == "reset"
    assert stream_outcome("slowed", "Client disconnected.") == "abandoned"
    assert stream_outcome("", "server closed connection") == "upstream_error"


def sse_flow(
    content_type: str = "text/event-stream; charset=utf-8", model: str = "gpt-4o", **headers: str
) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.live = True
    flow.request.host = "api.openai.com"
    flow.request.path = "/v1/chat/completions"
    flow.request.content = json.dumps({"model": model, "stream": True}).encode()
    flow.request.headers["accept-encoding"] = "gzip, br"
    respond(flow, content_type, **headers)
    return flow


def respond(flow: http.HTTPFlow, content_type: str = "text/event-stream; charset=utf-8", **headers: str) -> None:
    flow.response = http.Response.make(200, b"", {"content-type": content_type, **headers})


def test_arm_only_on_uncompressed_event_streams() -> None:
    fault = StreamCutFault(after_events=1)
    json_flow = sse_flow("application/json")
    run = FaultRun(CHAT, rng=None)  # type: ignore[arg-type]
    arm(json_flow, fault, run)
    assert run.outcome == "not_applied" and session_of(json_flow) is None
    gzipped = sse_flow(**{"content-encoding": "gzip"})
    arm(gzipped, fault, run)
    assert run.outcome == "not_applied" and session_of(gzipped) is None
    sized = sse_flow(**{"content-length": "100"})
    arm(sized, fault, FaultRun(CHAT, rng=None))  # type: ignore[arg-type]
    session = session_of(sized)
    assert session is not None and session.plan is not None and session.fault == "stream_cut"
    assert "content-length" not in sized.response.headers  # the plan may change the length


async def test_a_stream_fault_asks_for_an_uncompressed_body_and_pass_through_does_not() -> None:
    state = state_with("rules:\n  - match: {model: faulty}\n    fault: {type: stream_cut, after_events: 2}\n")
    injector = Injector(state)
    with taddons.context(injector):
        faulty, plain = sse_flow(model="faulty"), sse_flow()
        for flow in (faulty, plain):
            flow.response = None
            await injector.request(flow)
    assert faulty.request.headers["accept-encoding"] == "identity"
    assert plain.request.headers["accept-encoding"] == "gzip, br"
    assert faulty.metadata["brownout"]["outcome"] == "armed"


async def test_streams_addon_relays_through_the_plan_or_counts_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    # No live proxy here: the plan runs in the synchronous callable, as with the adapter off.
    monkeypatch.setattr(mitm_stream, "_status", mitm_stream.Status(False, "unit test"))
    state = state_with("rules:\n  - match: {model: faulty}\n    fault: {type: stream_error, after_events: 1}\n")
    injector, streams, recorder = Injector(state), Streams(state), Recorder(state)
    with taddons.context(injector, streams, recorder):
        faulty, plain = sse_flow(model="faulty"), sse_flow()
        for flow in (faulty, plain):
            flow.response = None
            recorder.requestheaders(flow)
            await injector.request(flow)
            respond(flow)
            injector.responseheaders(flow)
            streams.responseheaders(flow)
        events = [e.encode() for e in openai_chat_events(2)]
        assert callable(plain.response.stream) and callable(faulty.response.stream)
        assert [plain.response.stream(e) for e in events] == events
        sent = [piece for e in events for piece in faulty.response.stream(e)]
        assert sent[0] == events[0] and sent[1].startswith(b'data: {"error"')
        for flow in (faulty, plain):
            injector.response(flow)
            streams.response(flow)
            recorder.response(flow)
    registry = state.metrics.registry

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"provider": "openai", "endpoint": "chat", **labels})

    assert value("brownout_streams_total", outcome="errored") == 1
    assert value("brownout_streams_total", outcome="completed") == 1
    assert value("brownout_stream_events_total") == len(events) + 3  # the plain ones, and 1 + error + [DONE]
    assert value("brownout_stream_time_to_first_event_seconds_count") == 2
    assert faulty.metadata["brownout"]["outcome"] == "stream_error"


async def test_recorder_counts_a_cut_stream_as_aborted_and_a_reset_as_reset() -> None:
    state = Brownout()
    recorder = Recorder(state)
    with taddons.context(recorder):
        for outcome in ("cut", "reset", "stalled"):
            flow = sse_flow()
            flow.metadata["brownout"] = {
                "provider": "openai",
                "endpoint": "chat",
                "model": "gpt-4o",
                "outcome": outcome,
            }
            recorder.requestheaders(flow)
            recorder.error(flow)
    labels = {"provider": "openai", "endpoint": "chat", "model": "gpt-4o"}
    assert state.metrics.registry.get_sample_value("brownout_requests_total", {**labels, "code": "aborted"}) == 2
    assert state.metrics.registry.get_sample_value("brownout_requests_total", {**labels, "code": "reset"}) == 1
