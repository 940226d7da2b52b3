import pytest

from brownout.classify.request import RequestInfo
from brownout.faults.stream.cut import ByteCutPlan
from brownout.faults.stream.cut import StreamCutFault
from brownout.scenario.compile import parse_scenario
from brownout.scenario.yaml_lines import ScenarioError
from sse_upstream import anthropic_events
from sse_upstream import openai_chat_events
from streamsim import body
from streamsim import ending
from streamsim import paced
from streamsim import simulate

CHAT = RequestInfo("openai", "chat", "gpt-4o", True)
MESSAGES = RequestInfo("anthropic", "messages", "claude", True)


def test_after_events_relays_exactly_n_events_without_the_terminator() -> None:
    events = [e.encode() for e in anthropic_events(5)]
    plan = StreamCutFault(after_events=4).plan(MESSAGES)
    received = simulate(plan, paced(events, 0.05))
    assert body(received) == b"".join(events[:4])
    assert ending(received).end == "close" and ending(received).at == pytest.approx(0.15)
    assert b"message_stop" not in body(received)
    assert plan.outcome == "cut"


def test_events_are_counted_whatever_the_chunking() -> None:
    events = [e.encode() for e in openai_chat_events(5)]
    joined = b"".join(events)
    halves = [part for e in events for part in (e[: len(e) // 2], e[len(e) // 2 :])]
    for chunks in ([joined], halves):
        received = simulate(StreamCutFault(after_events=3, mode="reset").plan(CHAT), [(0.0, c) for c in chunks])
        assert body(received) == b"".join(events[:3])
        assert ending(received).end == "reset"


def test_after_zero_events_cuts_right_after_the_headers() -> None:
    received = simulate(StreamCutFault(after_events=0).plan(CHAT), [(0.1, b"data: 1\n\n")])
    assert received[0].at == 0.0 and received[0].end == "close" and body(received) == b""


def test_after_bytes_cuts_mid_event() -> None:
    events = [e.encode() for e in openai_chat_events(3)]
    joined = b"".join(events)
    cut_at = len(events[0]) + 10
    received = simulate(StreamCutFault(after_bytes=cut_at).plan(CHAT), paced(events, 0.01))
    assert body(received) == joined[:cut_at]
    assert ending(received).end == "close" and ending(received).at == pytest.approx(0.01)


def test_after_bytes_longer_than_the_stream_changes_nothing() -> None:
    events = [e.encode() for e in openai_chat_events(3)]
    plan = ByteCutPlan(10**6, "close")
    received = simulate(plan, paced(events, 0.01))
    assert body(received) == b"".join(events) and ending(received).end == "end" and plan.outcome == ""


def test_after_a_duration_cuts_on_time_even_when_the_upstream_is_silent() -> None:
    events = [e.encode() for e in openai_chat_events(3)]
    # Two events, then the upstream says nothing for seconds: the cut still comes at 0.5 s.
    chunks = [(0.0, events[0]), (0.1, events[1]), (5.0, events[2])]
    received = simulate(StreamCutFault(after="500ms").plan(CHAT), chunks, upstream_end=6.0)
    assert body(received) == events[0] + events[1]
    assert ending(received).end == "close" and ending(received).at == 0.5


@pytest.mark.parametrize(
    "fault,message",
    [
        ("{type: stream_cut}", "give exactly one of `after_events` (count), `after_bytes` (count) or `after`"),
        (
            "{type: stream_cut, after_events: 2, after: 1s}",
            "give exactly one of `after_events` (count), `after_bytes` (count) or `after` (duration); "
            "got after_events, after",
        ),
    ],
)
def test_validation(fault: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(f"rules:\n  - fault: {fault}\n", "s.yaml", default_name="s")
    assert str(info.value).startswith(f"s.yaml:2: rules[0].fault: {message}")


def test_mode_must_be_close_or_reset() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(
            "rules:\n  - fault: {type: stream_cut, after_events: 1, mode: fin}\n", "s.yaml", default_name="s"
        )
    assert str(info.value) == "s.yaml:2: rules[0].fault.mode: Input should be 'close', 'reset' or 'end', got 'fin'"


@pytest.mark.parametrize("info,events", [(CHAT, openai_chat_events(3)), (MESSAGES, anthropic_events(3))])
def test_end_mode_ends_cleanly_without_a_terminator_or_a_finish_reason(info: RequestInfo, events: list[str]) -> None:
    raw = [e.encode() for e in events]
    plan = StreamCutFault(after_events=100, mode="end").plan(info)  # later than the answer's own end
    received = simulate(plan, paced(raw, 0.01))
    sent = body(received)
    assert ending(received).end == "finish" and plan.outcome == "cut"
    assert b"[DONE]" not in sent and b'"finish_reason": "stop"' not in sent
    assert b"message_stop" not in sent and b'"stop_reason": "end_turn"' not in sent
    assert sent and raw[0] in sent  # what came before is relayed as it was
    early = StreamCutFault(after_events=2, mode="end").plan(info)
    received = simulate(early, paced(raw, 0.01))
    assert body(received) == b"".join(raw[:2]) and ending(received).end == "finish"
