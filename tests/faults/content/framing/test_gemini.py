from brownout.faults.content.bad_tool_call import BadToolCallFault
from brownout.faults.content.empty_answer import EmptyAnswerFault
from brownout.faults.content.truncate import TruncateFault
from faults.content.answers import edit_body
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


def test_bad_json_args_become_text() -> None:
    _, after = edit_body(BadToolCallFault(), "gemini_tools")
    assert after["candidates"][0]["content"]["parts"][0]["functionCall"]["args"] == '{city:"sample","days":0}'
