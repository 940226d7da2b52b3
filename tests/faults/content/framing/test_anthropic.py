import json

from brownout.faults.content.bad_tool_call import BadToolCallFault
from brownout.faults.content.usage_spike import UsageSpikeFault
from faults.content.answers import edit_stream
from faults.content.answers import payloads


def test_held_tool_input_goes_out_just_before_its_block_stops() -> None:
    _, after = edit_stream(BadToolCallFault(mode="missing_argument"), "anthropic_tools")
    found = [(name, data) for name, data in payloads(after) if name != "ping"]
    stop = next(i for i, (name, _) in enumerate(found) if name == "content_block_stop")
    name, delta = found[stop - 1]
    assert name == "content_block_delta" and delta["index"] == found[stop][1]["index"]
    assert json.loads(delta["delta"]["partial_json"]) == {"days": 0}
    held = [data["delta"]["partial_json"] for name, data in found[: stop - 1] if name == "content_block_delta"]
    assert held and set(held) == {""}  # the pieces went out empty, in their places


def test_every_usage_in_a_stream_is_spiked() -> None:
    _, after = edit_stream(UsageSpikeFault(factor=2), "anthropic")
    found = dict(payloads(after))
    assert found["message_start"]["message"]["usage"]["input_tokens"] == 16
    assert found["message_delta"]["usage"]["output_tokens"] == 48
