from brownout.faults.content.bad_structured_output import BadStructuredOutputFault
from brownout.faults.content.bad_tool_call import BadToolCallFault
from brownout.faults.content.truncate import TruncateFault
from faults.content.answers import edit_stream
from faults.content.answers import payloads


def test_a_held_answer_goes_out_as_one_delta_before_its_done_event() -> None:
    _, after = edit_stream(BadStructuredOutputFault(mode="schema_violation"), "responses_schema")
    found = payloads(after)
    done = next(i for i, (name, _) in enumerate(found) if name == "response.output_text.done")
    name, delta = found[done - 1]
    assert name == "response.output_text.delta" and delta["delta"] == found[done][1]["text"]
    assert delta["sequence_number"] == found[done][1]["sequence_number"]
    assert "city" not in delta["delta"]


def test_a_calls_arguments_are_the_same_in_every_event_that_carries_them() -> None:
    _, after = edit_stream(BadToolCallFault(mode="missing_argument"), "responses_tools")
    found = dict(payloads(after))
    assert found["response.function_call_arguments.done"]["arguments"] == '{"days":0}'
    assert found["response.output_item.done"]["item"]["arguments"] == '{"days":0}'
    assert found["response.completed"]["response"]["output"][0]["arguments"] == '{"days":0}'


def test_a_cut_answer_is_incomplete_in_its_items_and_its_last_event() -> None:
    _, after = edit_stream(TruncateFault(tokens=2), "responses")
    found = dict(payloads(after))
    assert found["response.output_item.done"]["item"]["status"] == "incomplete"
    final = found["response.incomplete"]
    assert final["type"] == "response.incomplete" and final["response"]["status"] == "incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
