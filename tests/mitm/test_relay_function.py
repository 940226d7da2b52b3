"""The relay as a plain stream function (content only), without a proxy."""

from brownout.classify.request import RequestInfo
from brownout.engine.flows import StreamSession
from brownout.faults.stream.error import StreamErrorFault
from brownout.faults.stream.plan import Hold
from brownout.faults.stream.plan import Send
from brownout.faults.stream.plan import StreamPlan
from brownout.mitm.relay import PlanRelay
from sse_upstream import openai_chat_events

CHAT = RequestInfo("openai", "chat", "gpt-4o", True)


def test_as_a_stream_function_the_relay_applies_content_and_never_returns_empty_bytes() -> None:
    session = StreamSession()
    events = [e.encode() for e in openai_chat_events(4)]
    relay = PlanRelay(StreamErrorFault(after_events=2).plan(CHAT), session.sent)
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
    plan_relay = PlanRelay(StreamErrorFault(after_events=5).plan(CHAT), before=reader)
    assert [plan_relay(e) for e in events] + [plan_relay(b"")] == [[e.replace(b"tok", b"TOK")] for e in events] + [[]]
    assert seen == events + [b""]


def test_as_a_stream_function_the_relay_ignores_holds() -> None:
    class Slow(StreamPlan):
        def feed(self, data: bytes, now: float) -> list:  # type: ignore[type-arg]
            return [Hold(now + 60), Send(data)]

    assert PlanRelay(Slow())(b"data: 1\n\n") == [b"data: 1\n\n"]
