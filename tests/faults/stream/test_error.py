import pytest

from brownout.classify.request import RequestInfo
from brownout.faults.outcome import Outcome
from brownout.faults.stream.error import StreamErrorFault
from brownout.providers.sse import EventSplitter
from brownout.providers.sse import SseEvent
from brownout.scenario.compile import parse_scenario
from brownout.scenario.yaml_lines import ScenarioError
from sse_upstream import anthropic_events
from sse_upstream import gemini_events
from sse_upstream import openai_chat_events
from sse_upstream import responses_events
from streamsim import body
from streamsim import ending
from streamsim import paced
from streamsim import simulate


def received_events(data: bytes) -> list[SseEvent]:
    return [SseEvent(raw) for raw in EventSplitter().feed(data)]


def test_openai_chat_error_frame_takes_the_place_of_event_n_plus_1() -> None:
    events = [e.encode() for e in openai_chat_events(8)]
    plan = StreamErrorFault(after_events=5).plan(RequestInfo("openai", "chat", "gpt-4o", True))
    received = simulate(plan, paced(events, 0.1))
    got = received_events(body(received))
    assert [e.raw for e in got[:5]] == events[:5]
    assert "error" in got[5].json() and got[6].data == "[DONE]"
    assert len(got) == 7
    # It comes when event 6 would have, then the stream ends cleanly.
    assert received[-2].at == pytest.approx(0.5) and ending(received).end == "finish"
    assert plan.outcome == Outcome.ERRORED


def test_anthropic_overloaded_error_after_partial_text() -> None:
    events = [e.encode() for e in anthropic_events(5)]
    plan = StreamErrorFault(after_events=5).plan(RequestInfo("anthropic", "messages", "claude", True))
    got = received_events(body(simulate(plan, paced(events, 0.01))))
    assert [e.name for e in got] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "error",
    ]
    assert got[-1].json()["error"]["type"] == "overloaded_error"


def test_gemini_error_frame_keeps_crlf() -> None:
    events = [e.encode() for e in gemini_events(4)]
    plan = StreamErrorFault(after_events=2, kind="server_error").plan(
        RequestInfo("gemini", "stream-generate", "g", True)
    )
    data = body(simulate(plan, paced(events, 0.01)))
    assert data.endswith(b"\r\n\r\n") and b"\n\n" not in data.replace(b"\r\n", b"")
    assert received_events(data)[-1].json()["error"]["status"] == "INTERNAL"


def test_responses_error_follows_the_sequence_and_can_be_response_failed() -> None:
    events = [e.encode() for e in responses_events(4)]
    info = RequestInfo("openai", "responses", "gpt-4o", True)
    nested = received_events(body(simulate(StreamErrorFault(after_events=3).plan(info), paced(events, 0.01))))
    assert [e.name for e in nested[-2:]] == ["error", "response.failed"]
    assert nested[-2].json()["sequence_number"] == 3 and nested[-1].json()["sequence_number"] == 4
    failed_plan = StreamErrorFault(after_events=3, event="response.failed").plan(info)
    failed = received_events(body(simulate(failed_plan, paced(events, 0.01))))
    assert failed[-1].name == "response.failed" and failed[-1].json()["response"]["status"] == "failed"


def test_then_close_ends_with_a_broken_connection() -> None:
    events = [e.encode() for e in openai_chat_events(3)]
    plan = StreamErrorFault(after_events=1, then="close").plan(RequestInfo("openai", "chat", "gpt-4o", True))
    assert ending(simulate(plan, paced(events, 0.01))).end == "close"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario("rules:\n  - fault: {type: stream_error, kind: melted}\n", "s.yaml", default_name="s")
    assert str(info.value).startswith("s.yaml:2: rules[0].fault.kind: unknown error kind 'melted'; allowed: ")


def test_an_html_error_page_cannot_be_a_stream_event() -> None:
    # Found by the fault property tests: accepted, this raised on every OpenAI stream it matched.
    with pytest.raises(ScenarioError) as raised:
        parse_scenario(
            "rules:\n  - fault: {type: stream_error, kind: cloudflare_html}\n", "html.yaml", default_name="html"
        )
    message = str(raised.value)
    assert message.startswith(
        "html.yaml:2: rules[0].fault.kind: kind 'cloudflare_html' is an HTML page at openai, openai-compatible, "
        "not an error a stream event can carry (an `error` fault sends it); allowed: api_error,"
    )
    assert "cloudflare_html" not in message.split("allowed:")[1]
    for provider, endpoint in (("openai", "chat"), ("anthropic", "messages"), ("gemini", "stream-generate")):
        plan = StreamErrorFault(kind="bad_gateway").plan(RequestInfo(provider, endpoint, "m", True))
        assert received_events(body(simulate(plan, paced([b"data: {}\n\n"], 0.01))))
