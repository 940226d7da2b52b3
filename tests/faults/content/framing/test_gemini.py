import json
from typing import Any

from brownout.classify.asks import Asks
from brownout.faults.content.bad_tool_call import BreakingCalls
from brownout.faults.content.editor import tokens_in
from brownout.faults.content.empty_answer import EmptyAnswerFault
from brownout.faults.content.framing import gemini
from brownout.faults.content.truncate import TruncateFault
from brownout.faults.outcome import Outcome
from brownout.faults.stream.plan import Send
from faults.content.answers import edit_stream
from faults.content.answers import events
from faults.content.answers import payloads


def test_chunks_keep_geminis_framing() -> None:
    _, after = edit_stream(EmptyAnswerFault(), "gemini", chunk=50)
    for event in events(after):
        assert event.raw.endswith(b"\r\n\r\n") and event.raw.startswith(b'data: {"candidates": [')


def test_usage_counts_the_text_so_far_in_every_chunk() -> None:
    _, after = edit_stream(TruncateFault(tokens=2), "gemini")
    counts = [data["usageMetadata"]["candidatesTokenCount"] for _, data in payloads(after)]
    assert counts[:2] == [1, 2] and set(counts[2:]) == {2}


def breaking() -> BreakingCalls:
    return BreakingCalls(Asks(), "bad_json")


def call_part() -> dict[str, Any]:
    return {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}


def test_a_malformed_call_leaves_the_text_before_it_and_its_signature() -> None:
    body: dict[str, Any] = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Let me look."}, call_part()], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 9, "totalTokenCount": 14},
    }
    assert gemini.edit_body(body, breaking)
    [candidate] = body["candidates"]
    assert candidate["content"]["parts"] == [{"text": "Let me look."}, {"thoughtSignature": "c2ln"}]
    assert candidate["finishReason"] == "MALFORMED_FUNCTION_CALL"
    text = tokens_in("Let me look.")
    assert body["usageMetadata"] == {"promptTokenCount": 5, "candidatesTokenCount": text, "totalTokenCount": 5 + text}


def test_a_stream_chunk_that_held_only_the_call_is_not_sent() -> None:
    usage = {"promptTokenCount": 5, "candidatesTokenCount": 7, "totalTokenCount": 12}
    alone = {"functionCall": call_part()["functionCall"]}
    call = {"candidates": [{"content": {"parts": [alone], "role": "model"}, "index": 0}]}
    last = {"candidates": [{"finishReason": "STOP", "index": 0}], "usageMetadata": usage}
    plan = gemini.GenerateStreamPlan(breaking, Outcome.BAD_TOOL_CALL)
    raw = b"".join(
        b"data: " + json.dumps(chunk | {"usageMetadata": usage}).encode() + b"\r\n\r\n" for chunk in (call, last)
    )
    out = [action.data for action in plan.start(0.0) + plan.feed(raw, 0.0) + plan.end(0.0) if isinstance(action, Send)]
    [(_, sent)] = payloads(b"".join(out))
    assert sent["candidates"] == [{"finishReason": "MALFORMED_FUNCTION_CALL", "index": 0}]
    assert sent["usageMetadata"] == {"promptTokenCount": 5, "totalTokenCount": 5}
    assert plan.outcome == Outcome.BAD_TOOL_CALL
