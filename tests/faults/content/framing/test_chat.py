import json

from brownout.faults.content.bad_tool_call import BadToolCallFault
from brownout.faults.content.truncate import TruncateFault
from brownout.faults.content.usage_missing import UsageMissingFault
from brownout.faults.outcome import Outcome
from brownout.providers.sse import format_event
from faults.content.answers import DATA
from faults.content.answers import edit_stream
from faults.content.answers import events
from faults.content.answers import fed
from faults.content.answers import payloads


def test_azures_opening_frame_passes_as_it_came() -> None:
    _, after = edit_stream(TruncateFault(tokens=1), "azure_chat")
    assert events(after)[0].raw == events((DATA / "azure_chat.sse").read_bytes())[0].raw


def test_the_usage_chunk_keeps_its_place_with_usage_null() -> None:
    outcome, after = edit_stream(UsageMissingFault(), "openai_chat")
    assert outcome == Outcome.USAGE_MISSING
    *_, (_, last_chunk), (_, done) = payloads(after)
    assert last_chunk["choices"] == [] and last_chunk["usage"] is None and done == "[DONE]"


def test_chunks_keep_their_fields_and_compact_json() -> None:
    _, after = edit_stream(TruncateFault(tokens=1), "openai_chat", chunk=4096)
    first = events(after)[1]
    assert first.raw.startswith(b'data: {"id":"chatcmpl-') and b'"obfuscation":' in first.raw


def test_a_call_whole_in_the_finishing_chunk_keeps_its_name_and_id() -> None:
    """Some servers send a call in one chunk, with the finish: its edited arguments go in beside
    what else the chunk says of it."""
    call = {"index": 0, "id": "call_1", "type": "function"}
    function = {"name": "get_weather", "arguments": '{"city":"Paris","days":2}'}
    delta = {"role": "assistant", "tool_calls": [{**call, "function": function}]}
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    choices = [{"index": 0, "delta": delta, "finish_reason": "tool_calls"}]
    stream = [format_event(json.dumps({**chunk, "choices": choices})), format_event("[DONE]")]
    outcome, sent = fed(BadToolCallFault(mode="missing_argument"), "openai_chat_tools", stream)
    assert outcome == Outcome.BAD_TOOL_CALL
    [(_, finishing), _] = payloads(b"".join(sent))
    [edited] = finishing["choices"][0]["delta"]["tool_calls"]
    assert edited == {**call, "function": {"name": "get_weather", "arguments": '{"days":2}'}}
