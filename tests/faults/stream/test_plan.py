from brownout.faults.stream.plan import EventPlan
from brownout.faults.stream.plan import Send
from brownout.faults.stream.plan import StreamPlan
from brownout.faults.stream.plan import is_plain
from brownout.providers import dialects
from brownout.providers.sse import MAX_PENDING
from sse_upstream import openai_chat_events
from streamsim import body
from streamsim import ending
from streamsim import paced
from streamsim import simulate


def chat(n: int = 3) -> list[bytes]:
    return [e.encode() for e in openai_chat_events(n)]


def test_base_plan_relays_bytes_unchanged() -> None:
    events = chat()
    received = simulate(StreamPlan(), paced(events, 0.01))
    assert body(received) == b"".join(events)
    assert [r.at for r in received[:-1]] == [i * 0.01 for i in range(len(events))]
    assert ending(received).end == "end"


def test_event_plan_counts_events_not_chunks() -> None:
    events = chat()
    joined = b"".join(events)
    for chunks in ([joined], [joined[i : i + 5] for i in range(0, len(joined), 5)]):
        plan = EventPlan(dialects.dialect_for("openai", "chat"))
        received = simulate(plan, [(0.0, c) for c in chunks])
        assert plan.events == len(events)
        assert body(received) == joined


def test_comments_pass_in_place_without_counting() -> None:
    plan = EventPlan(dialects.dialect_for("openai", "chat"))
    actions = plan.feed(b": keep-alive\n\ndata: 1\n\n: ping\n\n", 0.0)
    assert actions == [Send(b": keep-alive\n\n"), Send(b"data: 1\n\n"), Send(b": ping\n\n")]
    assert plan.events == 1


def test_a_stream_without_event_ends_is_not_buffered_whole() -> None:
    plan = EventPlan(dialects.dialect_for("openai", "chat"))
    assert plan.feed(b"x" * 1000, 0.0) == []
    big = plan.feed(b"y" * MAX_PENDING, 0.0)
    assert big == [Send(b"x" * 1000 + b"y" * MAX_PENDING)]
    assert plan.end(0.0) == []


def test_an_unfinished_event_goes_out_at_the_end() -> None:
    plan = EventPlan(dialects.dialect_for("openai", "chat"))
    assert plan.feed(b"data: 1\n\ndata: 2", 0.0) == [Send(b"data: 1\n\n")]
    assert plan.end(0.0) == [Send(b"data: 2")]


def test_is_plain() -> None:
    assert is_plain([Send(b"a"), Send(b"")])
    assert is_plain([])
