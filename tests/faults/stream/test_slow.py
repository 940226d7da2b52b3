import json

import pytest

from brownout.classify.request import RequestInfo
from brownout.faults.stream.slow import StreamSlowFault
from brownout.scenario.compile import parse_scenario
from brownout.scenario.yaml_lines import ScenarioError
from brownout.units import LONGEST_WAIT
from sse_upstream import anthropic_events
from sse_upstream import openai_chat_events
from streamsim import body
from streamsim import ending
from streamsim import paced
from streamsim import simulate

CHAT = RequestInfo("openai", "chat", "gpt-4o", True)
MESSAGES = RequestInfo("anthropic", "messages", "claude", True)


def times(received) -> list[float]:  # type: ignore[no-untyped-def]
    return [r.at for r in received if r.data]


def test_per_event_delays_each_event_behind_the_previous_one() -> None:
    events = [e.encode() for e in openai_chat_events(3)]  # 6 events, all at once
    received = simulate(StreamSlowFault(per_event="100ms").plan(CHAT), [(0.0, b"".join(events))])
    assert times(received) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert body(received) == b"".join(events)


def test_per_event_adds_to_a_slow_upstream() -> None:
    events = [e.encode() for e in openai_chat_events(1)]
    received = simulate(StreamSlowFault(per_event="100ms").plan(CHAT), paced(events, 0.5))
    assert times(received) == pytest.approx([0.1, 0.6, 1.1, 1.6])


def test_first_event_delay_is_time_to_first_token() -> None:
    events = [e.encode() for e in openai_chat_events(2)]
    received = simulate(StreamSlowFault(first_event_delay="2s").plan(CHAT), paced(events, 0.01, start=0.2))
    # Only the first event waits; the others follow at once (they arrived meanwhile).
    assert times(received) == pytest.approx([2.2, 2.2, 2.2, 2.2, 2.2])
    with_pace = simulate(
        StreamSlowFault(first_event_delay="1s", per_event="50ms").plan(CHAT), [(0.0, b"".join(events))]
    )
    assert times(with_pace) == pytest.approx([1.0, 1.05, 1.1, 1.15, 1.2])


def test_tokens_per_second_paces_the_text() -> None:
    events = [e.encode() for e in openai_chat_events(40)]  # 40 one-token deltas
    plan = StreamSlowFault(tokens_per_second=20).plan(CHAT)
    received = simulate(plan, [(0.0, b"".join(events))])
    # The role chunk carries no text and goes at once; 40 tokens at 20/s take 2 s.
    assert times(received)[0] == 0.0
    assert times(received)[1] == pytest.approx(0.05)
    assert ending(received).at == pytest.approx(2.0)
    assert plan.outcome == "slowed"


def test_tokens_per_second_paces_a_gemini_function_call() -> None:
    # A Gemini function call comes whole in one part, with no `text`: its arguments are the
    # generated tokens, so a slowed stream holds it as long as the same text.
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    frames = [
        {"candidates": [{"content": {"parts": [{"text": "Checking"}], "role": "model"}, "index": 0}]},
        {"candidates": [{"content": {"parts": [call], "role": "model"}, "finishReason": "STOP", "index": 0}]},
    ]
    events = [f"data: {json.dumps(frame)}\r\n\r\n".encode() for frame in frames]
    gemini = RequestInfo("gemini", "stream-generate", "gemini-2.5-flash", True)
    received = simulate(StreamSlowFault(tokens_per_second=4).plan(gemini), [(0.0, b"".join(events))])
    # One token each at 4/s: the call waits its quarter second behind the text.
    assert times(received) == pytest.approx([0.25, 0.5])


def test_tokens_per_second_never_speeds_up_a_slower_upstream() -> None:
    events = [e.encode() for e in anthropic_events(5)]
    received = simulate(StreamSlowFault(tokens_per_second=1000).plan(MESSAGES), paced(events, 0.2))
    assert times(received) == pytest.approx([i * 0.2 + (0.001 if 3 <= i < 8 else 0) for i in range(len(events))])


@pytest.mark.parametrize(
    "fault,message",
    [
        ("{type: stream_slow}", "give `per_event` (a duration), `tokens_per_second` or `first_event_delay`"),
        ("{type: stream_slow, per_event: 1s, tokens_per_second: 5}", "give `per_event` (a duration) or"),
    ],
)
def test_validation(fault: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(f"rules:\n  - fault: {fault}\n", "s.yaml", default_name="s")
    assert str(info.value).startswith(f"s.yaml:2: rules[0].fault: {message}")


@pytest.mark.parametrize(
    "pace,message",
    [
        ("0", "Input should be greater than or equal to 0.01, got 0"),
        ("2000000", "Input should be less than or equal to 1000000, got 2000000"),
        (".inf", "Input should be a finite number, got inf"),
        (".nan", "Input should be a finite number, got nan"),
    ],
)
def test_tokens_per_second_is_a_bounded_pace(pace: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(
            f"rules:\n  - fault: {{type: stream_slow, tokens_per_second: {pace}}}\n", "s.yaml", default_name="s"
        )
    assert str(info.value) == f"s.yaml:2: rules[0].fault.tokens_per_second: {message}"


def test_a_huge_event_at_the_slowest_pace_waits_no_longer_than_an_hour() -> None:
    frame = {"choices": [{"index": 0, "delta": {"content": "word " * 10_000}, "finish_reason": None}]}
    received = simulate(
        StreamSlowFault(tokens_per_second=0.01).plan(CHAT), [(0.0, f"data: {json.dumps(frame)}\n\n".encode())]
    )
    assert times(received) == [LONGEST_WAIT]
