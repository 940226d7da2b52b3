import json

import pytest
from mitmproxy import http
from mitmproxy.test import taddons
from mitmproxy.test import tflow

from brownout.classify.request import RequestInfo
from brownout.engine.state import Brownout
from brownout.faults.base import FaultRun
from brownout.faults.outcome import Outcome
from brownout.hooks.injector import Injector
from brownout.hooks.recorder import Recorder
from brownout.hooks.streams import Streams
from brownout.mitm import compat
from brownout.mitm.relay import PlanRelay
from conftest import state_with
from sse_upstream import openai_chat_events

CHAT = RequestInfo("openai", "chat", "gpt-4o", True)


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


async def test_a_stream_fault_acts_only_on_uncompressed_event_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "_status", compat.Status(False, "unit test"))
    state = state_with("rules:\n  - fault: {type: stream_cut, after_events: 1}\n")
    injector, streams = Injector(state), Streams(state)
    with taddons.context(injector, streams):
        flows = {
            "json": sse_flow("application/json"),
            "gzipped": sse_flow(**{"content-encoding": "gzip"}),
            "sized": sse_flow(**{"content-length": "100"}),
        }
        for flow in flows.values():
            response, flow.response = flow.response, None
            await injector.request(flow)
            flow.response = response
            injector.responseheaders(flow)
            streams.responseheaders(flow)
    for name in ("json", "gzipped"):
        here = state.flows.of(flows[name])
        assert here.outcome == Outcome.NOT_APPLIED and not here.armed, name
        assert not isinstance(flows[name].response.stream, PlanRelay)
    sized = state.flows.of(flows["sized"])
    assert sized.stream is not None and sized.stream.plan is not None and sized.outcome == Outcome.ARMED
    assert isinstance(flows["sized"].response.stream, PlanRelay)
    assert "content-length" not in flows["sized"].response.headers  # the plan may change the length
    assert flows["gzipped"].response.headers["content-encoding"] == "gzip"  # left as it came


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
    monkeypatch.setattr(compat, "_status", compat.Status(False, "unit test"))
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
        assert [plain.response.stream(e) for e in events] == [[e] for e in events]
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
    assert faulty.metadata["brownout"]["outcome"] == "errored"
    assert state.flows.of(faulty).outcome == Outcome.ERRORED


async def test_recorder_counts_a_cut_stream_as_aborted_and_a_reset_as_reset() -> None:
    state = Brownout()
    recorder = Recorder(state)
    with taddons.context(recorder):
        for outcome in (Outcome.CUT, Outcome.RESET, Outcome.STALLED):
            flow = sse_flow()
            here = state.flows.of(flow)
            here.provider, here.info = "openai", CHAT
            here.run = FaultRun(CHAT, rng=None, outcome=outcome)  # type: ignore[arg-type]
            recorder.requestheaders(flow)
            recorder.error(flow)
    labels = {"provider": "openai", "endpoint": "chat", "model": "gpt-4o"}
    assert state.metrics.registry.get_sample_value("brownout_requests_total", {**labels, "code": "aborted"}) == 2
    assert state.metrics.registry.get_sample_value("brownout_requests_total", {**labels, "code": "reset"}) == 1
