import pytest

from brownout.classify.request import RequestInfo
from brownout.faults.stream.stall import StreamStallFault
from brownout.scenario.compile import parse_scenario
from brownout.scenario.yaml_lines import ScenarioError
from sse_upstream import openai_chat_events
from streamsim import body
from streamsim import ending
from streamsim import paced
from streamsim import simulate

CHAT = RequestInfo("openai", "chat", "gpt-4o", True)


def test_resume_keeps_the_upstream_pace_after_the_silence() -> None:
    events = [e.encode() for e in openai_chat_events(4)]  # 7 events
    plan = StreamStallFault(after_events=2, duration="10s").plan(CHAT)
    received = simulate(plan, paced(events, 0.1))
    times = [r.at for r in received if r.data]
    assert times[:2] == [0.0, 0.1]
    # Event 3 arrived at 0.2 s and goes out 10 s later; the rest keep their 0.1 s gaps (no burst).
    assert times[2:] == pytest.approx([10.2, 10.3, 10.4, 10.5, 10.6])
    assert body(received) == b"".join(events)
    assert ending(received).end == "end" and ending(received).at == pytest.approx(10.6)
    assert plan.outcome == "stalled"


def test_close_ends_the_connection_after_the_silence() -> None:
    events = [e.encode() for e in openai_chat_events(4)]
    received = simulate(StreamStallFault(after_events=3, duration="2s", then="close").plan(CHAT), paced(events, 0.1))
    assert body(received) == b"".join(events[:3])
    assert ending(received).end == "close" and ending(received).at == pytest.approx(2.2)


def test_a_stall_before_the_first_event() -> None:
    events = [e.encode() for e in openai_chat_events(1)]
    received = simulate(StreamStallFault(duration="1s").plan(CHAT), paced(events, 0.1, start=0.3))
    assert received[0].at == pytest.approx(1.3)


def test_a_stream_shorter_than_n_events_is_untouched() -> None:
    events = [e.encode() for e in openai_chat_events(1)]
    plan = StreamStallFault(after_events=50, duration="10s").plan(CHAT)
    received = simulate(plan, paced(events, 0.1))
    assert ending(received).at == pytest.approx(0.3) and plan.outcome == ""


def test_duration_is_required() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario("rules:\n  - fault: {type: stream_stall, after_events: 1}\n", "s.yaml", default_name="s")
    assert str(info.value) == "s.yaml:2: rules[0].fault.duration: required key is missing"
