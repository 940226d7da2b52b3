import tracemalloc

from brownout.faults.content.bad_structured_output import CHATTER
from brownout.faults.content.bad_structured_output import BadStructuredOutputFault
from brownout.faults.content.bad_tool_call import BadToolCallFault
from brownout.faults.content.framing import responses
from brownout.faults.content.truncate import TruncateFault
from brownout.faults.stream.plan import Send
from brownout.providers.sse import MAX_PENDING
from faults.content.answers import armed
from faults.content.answers import edit_stream
from faults.content.answers import payloads
from faults.content.answers import respoken
from faults.content.answers import text_slot
from faults.content.answers import view


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


def test_the_text_sent_is_not_held_to_write_the_events_that_repeat_it() -> None:
    """The `.done` events and the final response repeat the text the client got: the plan keeps
    what the editor wrote (`not_json`'s chatter) and where the rest is in the upstream's own copy,
    not the text itself (memory the plan holds, as allocated in its module, stays small)."""
    text = '{"city": "Paris", "days": 2, "notes": "' + "x" * (4 * MAX_PENDING) + '"}'
    stream = respoken("responses_schema", text_slot, [text[at : at + 50] for at in range(0, len(text), 50)])
    fault = BadStructuredOutputFault()
    plan = fault.plan_run(armed(fault, "responses_schema", stream=True))
    tracemalloc.start()
    try:
        sent = [action.data for event in stream for action in plan.feed(event, 0.0) if isinstance(action, Send)]
        held = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, responses.__file__)])
    finally:
        tracemalloc.stop()
    assert sum(stat.size for stat in held.statistics("filename")) < MAX_PENDING // 4
    seen = view("responses_schema", b"".join(sent))
    assert seen.text == CHATTER + text and seen.events[-1] == "response.completed"
    [part] = [data["part"] for name, data in payloads(b"".join(sent)) if name == "response.content_part.done"]
    assert part["text"] == CHATTER + text
