import json

import pytest

from brownout.faults.content.bad_tool_call import UNKNOWN_TOOL
from brownout.faults.content.bad_tool_call import BadToolCallFault
from brownout.faults.content.editor import MAX_HELD
from brownout.faults.outcome import Outcome
from faults.content.answers import MESSAGES
from faults.content.answers import TOOLS
from faults.content.answers import WEATHER
from faults.content.answers import arguments_slot
from faults.content.answers import edit_body
from faults.content.answers import edit_stream
from faults.content.answers import edited
from faults.content.answers import events
from faults.content.answers import fed
from faults.content.answers import fed_in_pieces
from faults.content.answers import most_held
from faults.content.answers import original
from faults.content.answers import original_body
from faults.content.answers import pieces_in
from faults.content.answers import view


def run(mode: str, name: str, stream: bool) -> tuple[Outcome, list[tuple[str, str]]]:
    fault = BadToolCallFault.model_validate({"mode": mode})
    outcome, after = edited(fault, name, stream)
    return outcome, view(name, after).calls


# Where arguments are JSON text on the wire: OpenAI's chat and Responses, Anthropic's stream.
ARGUMENTS_AS_TEXT = [
    ("openai_chat_tools", False),
    ("openai_chat_tools", True),
    ("responses_tools", False),
    ("responses_tools", True),
    ("anthropic_tools", True),
]


@pytest.mark.parametrize(("name", "stream"), ARGUMENTS_AS_TEXT)
def test_bad_json(name: str, stream: bool) -> None:
    outcome, calls = run("bad_json", name, stream)
    assert outcome == Outcome.BAD_TOOL_CALL
    [(called, arguments)] = calls
    assert called == "get_weather"
    with pytest.raises(json.JSONDecodeError):
        json.loads(arguments)


def test_bad_json_is_not_applied_to_a_whole_anthropic_answer() -> None:
    """Anthropic's `input` is an object the API parsed: no answer of it holds text that does not."""
    outcome, after = edited(BadToolCallFault(mode="bad_json"), "anthropic_tools", stream=False)
    assert outcome == Outcome.NOT_APPLIED and after == original_body("anthropic_tools")


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_bad_json_on_gemini_is_a_malformed_function_call(stream: bool) -> None:
    """Gemini answers a call it could not read with no call and MALFORMED_FUNCTION_CALL; the
    capture is a call alone, so no candidate tokens are left to count."""
    before = view("gemini_tools", original("gemini_tools", stream))
    outcome, after = edited(BadToolCallFault(mode="bad_json"), "gemini_tools", stream)
    seen = view("gemini_tools", after)
    assert outcome == Outcome.BAD_TOOL_CALL
    assert seen.calls == [] and seen.stop == "MALFORMED_FUNCTION_CALL"
    assert before.output_tokens and before.total_tokens
    assert seen.output_tokens is None and seen.total_tokens == before.total_tokens - before.output_tokens


@pytest.mark.parametrize("name", TOOLS)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_missing_argument(name: str, stream: bool) -> None:
    outcome, calls = run("missing_argument", name, stream)
    assert outcome == Outcome.BAD_TOOL_CALL
    [(called, arguments)] = calls
    assert called == "get_weather" and json.loads(arguments) == {"days": 0}


@pytest.mark.parametrize("name", TOOLS)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_unknown_tool(name: str, stream: bool) -> None:
    [(_, before)] = view(name, original_body(name)).calls
    outcome, calls = run("unknown_tool", name, stream)
    assert outcome == Outcome.BAD_TOOL_CALL
    [(called, arguments)] = calls
    assert called == UNKNOWN_TOOL and json.loads(arguments) == json.loads(before)


def test_a_request_without_tools_is_not_applied() -> None:
    outcome, after = edit_body(BadToolCallFault(), "openai_chat_tools", request={"messages": MESSAGES})
    assert outcome == Outcome.NOT_APPLIED and after == original_body("openai_chat_tools")


def test_an_answer_without_a_call_is_not_applied() -> None:
    tools = {"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]}
    outcome, _ = edit_stream(BadToolCallFault(), "openai_chat", request={"messages": MESSAGES, **tools})
    assert outcome == Outcome.NOT_APPLIED


def test_without_required_parameters_the_first_argument_goes() -> None:
    loose = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    request = {"tools": [{"type": "function", "name": "get_weather", "parameters": loose}], "input": "?"}
    fault = BadToolCallFault(mode="missing_argument")
    _, after = edit_body(fault, "responses_tools", request=request)
    [(_, arguments)] = view("responses_tools", after).calls
    assert json.loads(arguments) == {"days": 0}


# Where a stream carries a call's arguments as pieces of JSON text (Gemini's call comes whole).
ARGUMENT_STREAMS = ["openai_chat_tools", "responses_tools", "anthropic_tools"]


@pytest.mark.parametrize("mode", ["bad_json", "missing_argument"])
@pytest.mark.parametrize("name", ARGUMENT_STREAMS)
def test_streamed_arguments_past_the_cap_go_out_unedited(name: str, mode: str) -> None:
    """Arguments too long to hold, in small deltas: at most MAX_HELD characters wait in the proxy,
    then the client gets the arguments the upstream sent, counted not applied."""
    arguments = '{"city": "' + "x" * (2 * MAX_HELD) + '", "days": 2}'
    outcome, stream, sent = fed_in_pieces(
        BadToolCallFault.model_validate({"mode": mode}), name, arguments_slot, arguments
    )
    assert outcome == Outcome.NOT_APPLIED
    assert most_held(name, arguments_slot, stream, sent) <= MAX_HELD
    assert "".join(pieces_in(name, arguments_slot, b"".join(sent))) == arguments


@pytest.mark.parametrize("name", ARGUMENT_STREAMS)
def test_streamed_arguments_under_the_cap_are_still_edited(name: str) -> None:
    arguments = '{"city": "' + "x" * (MAX_HELD - 100) + '", "days": 2}'
    outcome, _, sent = fed_in_pieces(BadToolCallFault(mode="missing_argument"), name, arguments_slot, arguments)
    assert outcome == Outcome.BAD_TOOL_CALL
    assert json.loads("".join(pieces_in(name, arguments_slot, b"".join(sent)))) == {"days": 2}


@pytest.mark.parametrize("name", ARGUMENT_STREAMS)
def test_unknown_tools_arguments_leave_as_they_arrive(name: str) -> None:
    """`unknown_tool` only renames the call: each argument delta goes out with the event that
    brought it, unchanged."""
    stream = [event.raw for event in events(original(name, stream=True))]
    outcome, sent = fed(BadToolCallFault(mode="unknown_tool"), name, stream)
    assert outcome == Outcome.BAD_TOOL_CALL
    arrived = [pieces_in(name, arguments_slot, event) for event in stream]
    assert sum(map(len, arrived)) > 3
    assert [pieces_in(name, arguments_slot, out) for out in sent] == [*arrived, []]
    [(called, _)] = view(name, b"".join(sent)).calls
    assert called == UNKNOWN_TOOL
