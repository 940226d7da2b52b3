from brownout.faults.content.truncate import TruncateFault
from brownout.faults.content.usage_missing import UsageMissingFault
from brownout.faults.outcome import Outcome
from faults.content.answers import DATA
from faults.content.answers import edit_stream
from faults.content.answers import events
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
