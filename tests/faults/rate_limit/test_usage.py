import json

import pytest

from brownout.faults.rate_limit.usage import SseUsageWatcher
from brownout.faults.rate_limit.usage import UsageCounter
from brownout.faults.rate_limit.usage import request_charge


def test_estimate_is_a_quarter_of_the_body_plus_the_output_cap() -> None:
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 400}]}).encode()
    base = -(-len(body) // 4)
    assert request_charge(body) == base
    capped = json.dumps({"model": "gpt-4o", "max_tokens": 100, "messages": []}).encode()
    assert request_charge(capped) == -(-len(capped) // 4) + 100
    gemini = json.dumps({"contents": [], "generationConfig": {"maxOutputTokens": 64}}).encode()
    assert request_charge(gemini) == -(-len(gemini) // 4) + 64
    assert request_charge(b"") == 1 and request_charge(None) == 1


@pytest.mark.parametrize(
    "doc,total",
    [
        ({"usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}, 15),  # OpenAI chat
        ({"usage": {"input_tokens": 20, "output_tokens": 5, "total_tokens": 25}}, 25),  # Responses
        ({"usage": {"input_tokens": 11, "output_tokens": 7}}, 18),  # Anthropic
        ({"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 9, "totalTokenCount": 13}}, 13),
        ({"choices": []}, None),
    ],
)
def test_usage_from_each_provider_body(doc: dict[str, object], total: int | None) -> None:
    counter = UsageCounter()
    counter.feed_body(json.dumps(doc).encode())
    assert counter.total == total


def sse(*events: dict[str, object], name: str = "") -> bytes:
    prefix = f"event: {name}\n" if name else ""
    return b"".join(f"{prefix}data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"


def test_stream_usage_split_anywhere_across_chunks() -> None:
    stream = sse(
        {"choices": [{"delta": {"content": "Hel"}}]},
        {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}},
    )
    for size in (1, 7, 64, len(stream)):
        watcher = SseUsageWatcher()
        for start in range(0, len(stream), size):
            watcher.feed(stream[start : start + size])
        watcher.close()
        assert watcher.total == 15, size


def test_anthropic_stream_usage_comes_in_two_events() -> None:
    stream = (
        b'event: message_start\r\ndata: {"type":"message_start","message":{"usage":'
        b'{"input_tokens":11,"output_tokens":1}}}\r\n\r\n'
        b'event: message_delta\r\ndata: {"type":"message_delta","usage":{"output_tokens":15}}\r\n\r\n'
    )
    watcher = SseUsageWatcher()
    watcher.feed(stream)
    assert watcher.total == 26


def test_responses_stream_and_gemini_stream() -> None:
    watcher = SseUsageWatcher()
    watcher.feed(
        sse(
            {"type": "response.created", "response": {"usage": None}},
            {"type": "response.completed", "response": {"usage": {"input_tokens": 3, "output_tokens": 4}}},
        )
    )
    assert watcher.total == 7
    gemini = SseUsageWatcher()
    gemini.feed(b'data: {"usageMetadata": {"promptTokenCount": 4}}\r\n\r\n')
    gemini.feed(b'data: {"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 9, "totalTokenCount": 13}}')
    gemini.close()
    assert gemini.total == 13


def test_broken_events_are_skipped() -> None:
    watcher = SseUsageWatcher()
    watcher.feed(b"data: {not json usage\n\ndata: [DONE]\n\n")
    assert watcher.total is None
