import json
import re

import pytest

from brownout.providers import dialects
from brownout.providers import sse
from brownout.providers.sse import EventSplitter
from brownout.providers.sse import SseEvent
from sse_upstream import anthropic_events
from sse_upstream import gemini_events
from sse_upstream import openai_chat_events
from sse_upstream import responses_events


def split_all(body: bytes, pieces: list[int]) -> list[bytes]:
    """Feed `body` cut at the given offsets; every event must come out whole, in order."""
    splitter = EventSplitter()
    out: list[bytes] = []
    last = 0
    for cut in [*pieces, len(body)]:
        out += splitter.feed(body[last:cut])
        last = cut
    assert splitter.take_pending() == b""
    return out


@pytest.mark.parametrize("fmt", [openai_chat_events, anthropic_events, gemini_events, responses_events])
def test_any_chunking_gives_the_same_events(fmt) -> None:  # type: ignore[no-untyped-def]
    events = [e.encode() for e in fmt(4)]
    body = b"".join(events)
    assert split_all(body, []) == events  # all in one chunk
    assert split_all(body, list(range(1, len(body)))) == events  # one byte at a time
    assert split_all(body, list(range(7, len(body), 7))) == events  # events cut anywhere
    # a chunk boundary inside every delimiter, CRLF ones included
    cuts = [i + 1 for i in range(len(body) - 1) if body[i : i + 1] in (b"\n", b"\r")]
    assert split_all(body, cuts) == events


def test_newline_is_learned_from_the_stream() -> None:
    crlf = EventSplitter()
    assert crlf.feed(b"data: a\r\n\r\ndata: b\r\n") == [b"data: a\r\n\r\n"]
    assert crlf.newline == b"\r\n"
    assert crlf.feed(b"\r\n") == [b"data: b\r\n\r\n"]
    lf = EventSplitter()
    lf.feed(b"data: a\n\n")
    assert lf.newline == b"\n"


def test_a_single_crlf_is_not_an_event_end() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b"event: x\r\ndata: 1\r\n") == []
    assert splitter.pending == len(b"event: x\r\ndata: 1\r\n")
    assert splitter.feed(b"\r\n") == [b"event: x\r\ndata: 1\r\n\r\n"]


def test_event_fields() -> None:
    event = SseEvent(b'event: content_block_delta\ndata: {"a":\ndata: 1}\n\n')
    assert event.name == "content_block_delta"
    assert event.data == '{"a":\n1}'
    assert event.json() == {"a": 1}
    assert not event.is_comment
    assert SseEvent(b": keep-alive\n\n").is_comment
    assert SseEvent(b"data:no-space\r\n\r\n").data == "no-space"
    assert SseEvent(b"data: [DONE]\n\n").json() is None


def test_event_tokens() -> None:
    assert sse.event_tokens("") == 0
    assert sse.event_tokens(" tok1") == 1
    assert sse.event_tokens(" running,") == 1  # one event per token, as OpenAI and the simulator stream
    assert sse.event_tokens("\n\n") == 1
    assert sse.event_tokens("Hello, world!") == 4  # Hello / , / world / !
    assert sse.event_tokens("The quick brown fox") == 4


def test_format_event() -> None:
    assert sse.format_event("x", "error") == b"event: error\ndata: x\n\n"
    assert sse.format_event("a\nb", None, b"\r\n") == b"data: a\r\ndata: b\r\n\r\n"


def events_of(fmt, n: int = 3) -> list[SseEvent]:  # type: ignore[no-untyped-def]
    return [SseEvent(e.encode()) for e in fmt(n)]


def test_openai_chat_dialect() -> None:
    dialect = dialects.dialect_for("openai", "chat")
    events = events_of(openai_chat_events)
    assert [dialect.is_terminator(e) for e in events] == [False] * 5 + [True]
    assert "".join(dialect.text_of(e) for e in events) == " tok0 tok1 tok2"
    error = dialect.error_events(None, None, b"\n")
    frames = [SseEvent(raw + b"\n\n") for raw in error.split(b"\n\n") if raw]
    # The frame openai-python turns into APIError: a JSON object with an `error` key, then [DONE].
    assert frames[0].json() == {"error": dialects.OpenAIChat.MID_STREAM}
    assert frames[1].data == "[DONE]"
    quota = json.loads(dialect.error_events("rate_limit", None, b"\n").split(b"\n\n")[0][6:])
    assert quota["error"]["code"] == "rate_limit_exceeded"
    custom = dialect.error_events(None, "boom", b"\n")
    assert b'"message":"boom"' in custom


def test_openai_responses_dialect_follows_sequence_numbers() -> None:
    dialect = dialects.dialect_for("openai", "responses")
    events = events_of(responses_events)
    for event in events[:3]:
        dialect.observe(event)
    assert [dialect.is_terminator(e) for e in events] == [False] * 4 + [True]
    assert "".join(dialect.text_of(e) for e in events) == " tok0 tok1 tok2"
    sent = dialect.error_events(None, None, b"\n")
    error, then = (SseEvent(frame + b"\n\n") for frame in sent.split(b"\n\n")[:2])
    assert error.name == "error"
    payload = error.json()
    # The nested form: openai-python raises APIError on it; `response.failed` follows, as a failing
    # stream sends it, with a code openai's ResponseError allows (not `server_is_overloaded`).
    assert payload["type"] == "error" and payload["sequence_number"] == 3
    assert payload["error"]["code"] == "server_is_overloaded"
    assert then.name == "response.failed" and then.json()["sequence_number"] == 4
    assert then.json()["response"]["error"]["code"] == "server_error"
    assert sent.count(b"\n\n") == 2
    failed_dialect = dialects.dialect_for("openai", "responses", responses_form="response.failed")
    failed_dialect.observe(events[0])
    failed = SseEvent(failed_dialect.error_events("server_error", None, b"\n"))
    assert failed.name == "response.failed"
    response = failed.json()["response"]
    assert response["id"] == "resp_test" and response["status"] == "failed"
    assert response["error"]["code"] == "server_error"
    limited = SseEvent(failed_dialect.error_events("rate_limit", None, b"\n")).json()["response"]
    assert limited["error"]["code"] == "rate_limit_exceeded"  # allowed there: kept
    overloaded = SseEvent(failed_dialect.error_events("overloaded", None, b"\n")).json()["response"]
    assert overloaded["error"]["code"] == "server_error"


def test_anthropic_dialect() -> None:
    dialect = dialects.dialect_for("anthropic", "messages")
    events = events_of(anthropic_events)
    assert [e.name for e in events if dialect.is_terminator(e)] == ["message_stop"]
    assert "".join(dialect.text_of(e) for e in events) == " tok0 tok1 tok2"
    error = SseEvent(dialect.error_events(None, None, b"\n"))
    assert error.name == "error"
    body = error.json()
    # The envelope whole, with its request id (the SDK reads `request_id` from the body).
    assert body["type"] == "error" and re.fullmatch(r"req_011C[0-9A-Za-z]{20}", body.pop("request_id"))
    assert body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded", "details": None}}
    rate = SseEvent(dialect.error_events("rate_limit", "slow down", b"\n")).json()
    assert rate["error"] == {"type": "rate_limit_error", "message": "slow down", "details": None}


def test_gemini_dialect_uses_crlf() -> None:
    dialect = dialects.dialect_for("gemini", "stream-generate")
    assert dialect.newline == b"\r\n"
    events = events_of(gemini_events)
    assert [dialect.is_terminator(e) for e in events] == [False, False, True]
    assert "".join(dialect.text_of(e) for e in events) == " tok0 tok1 tok2"
    # A chunk that holds only a function call carries its arguments as generated text.
    call = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"city": "Paris"}}}]}}]}
    assert dialect.text_of(SseEvent(f"data: {json.dumps(call)}\r\n\r\n".encode())) == '{"city":"Paris"}'
    raw = dialect.error_events(None, None, b"\r\n")
    assert raw.endswith(b"\r\n\r\n") and raw.startswith(b"data: {")
    assert SseEvent(raw).json()["error"] == {
        "code": 503,
        "message": "The model is overloaded. Please try again later.",
        "status": "UNAVAILABLE",
    }


def test_dialect_choice() -> None:
    assert isinstance(dialects.dialect_for("azure", "chat"), dialects.OpenAIChat)
    assert isinstance(dialects.dialect_for("openai-compatible", "completions"), dialects.OpenAIChat)
    assert isinstance(dialects.dialect_for("openai", "responses"), dialects.OpenAIResponses)
    assert isinstance(dialects.dialect_for("anthropic", "messages"), dialects.AnthropicMessages)
    assert isinstance(dialects.dialect_for("gemini", "stream-generate"), dialects.GeminiStream)


def test_event_counter_counts_whole_events_across_chunks() -> None:
    for events in (openai_chat_events(3), anthropic_events(3), gemini_events(3)):
        body = "".join(events).encode()
        for size in (1, 2, 3, 5, 64, len(body)):
            counter = sse.EventCounter()
            for i in range(0, len(body), size):
                counter.feed(body[i : i + size])
            assert counter.events == len(events), (size, events[0][:20])


def test_event_counter_skips_comments() -> None:
    counter = sse.EventCounter()
    assert counter.feed(b": keep-alive\n\ndata: 1\n\n:") == 1
    assert counter.feed(b" ping\n\ndata: 2\n") == 0
    assert counter.feed(b"\n") == 1


def test_is_event_stream() -> None:
    assert sse.is_event_stream("text/event-stream; charset=utf-8")
    assert sse.is_event_stream(" Text/Event-Stream")
    assert not sse.is_event_stream("application/json") and not sse.is_event_stream("")


def test_gemini_raw_json_tail_has_no_data_prefix() -> None:
    tail = dialects.dialect_for("gemini", "stream-generate", gemini_framing="raw_json").error_events(
        None, None, b"\r\n"
    )
    assert not tail.startswith(b"data:") and b"\ndata:" not in tail
    assert json.loads(tail)["error"] == {
        "code": 503,
        "message": "The model is overloaded. Please try again later.",
        "status": "UNAVAILABLE",
    }
    assert b'\n  "error": {' in tail  # pretty-printed, line by line, as the HTTP error body
