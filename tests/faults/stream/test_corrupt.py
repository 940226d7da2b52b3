import json

import pytest

from brownout.classify.request import RequestInfo
from brownout.faults.stream.corrupt import StreamCorruptFault
from brownout.faults.stream.corrupt import malformed
from brownout.providers.sse import EventSplitter
from brownout.providers.sse import SseEvent
from sse_upstream import anthropic_events
from sse_upstream import gemini_events
from sse_upstream import openai_chat_events
from streamsim import body
from streamsim import ending
from streamsim import paced
from streamsim import simulate

CHAT = RequestInfo("openai", "chat", "gpt-4o", True)


def test_malformed_breaks_the_json_but_not_the_framing() -> None:
    events = [e.encode() for e in openai_chat_events(3)]
    plan = StreamCorruptFault(after_events=2).plan(CHAT)
    received = simulate(plan, paced(events, 0.01))
    got = [SseEvent(raw) for raw in EventSplitter().feed(body(received))]
    assert len(got) == len(events)  # still one event per event
    assert got[2].data.startswith("{") and got[2].json() is None
    with pytest.raises(json.JSONDecodeError):
        json.loads(got[2].data)
    assert [e.raw for i, e in enumerate(got) if i != 2] == [e for i, e in enumerate(events) if i != 2]
    assert ending(received).end == "end" and plan.outcome == "corrupted"


def test_malformed_keeps_event_names_and_crlf() -> None:
    raw = anthropic_events(1)[3].encode()
    broken = malformed(raw)
    assert broken.startswith(b"event: content_block_delta\ndata: {") and broken.endswith(b"\n\n")
    gemini = gemini_events(1)[0].encode()
    assert malformed(gemini).endswith(b"\r\n\r\n")


def test_duplicate_sends_one_event_twice() -> None:
    events = [e.encode() for e in anthropic_events(2)]
    received = simulate(
        StreamCorruptFault(mode="duplicate", after_events=3).plan(RequestInfo("anthropic", "messages", "c", True)),
        paced(events, 0.01),
    )
    assert body(received) == b"".join(events[:4]) + events[3] + b"".join(events[4:])


@pytest.mark.parametrize(
    "info,events,gone",
    [
        (CHAT, openai_chat_events(2), b"[DONE]"),
        (RequestInfo("anthropic", "messages", "c", True), anthropic_events(2), b"message_stop"),
        (RequestInfo("gemini", "stream-generate", "g", True), gemini_events(2), b"finishReason"),
    ],
)
def test_drop_terminator_ends_cleanly_without_it(info: RequestInfo, events: list[str], gone: bytes) -> None:
    raw = [e.encode() for e in events]
    received = simulate(StreamCorruptFault(mode="drop_terminator").plan(info), paced(raw, 0.01))
    assert gone not in body(received)
    assert body(received) == b"".join(e for e in raw if gone not in e)
    assert ending(received).end == "end"
