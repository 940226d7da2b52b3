import json

import pytest

from brownout.faults.content.bad_structured_output import CHATTER
from brownout.faults.content.bad_structured_output import BadStructuredOutputFault
from brownout.faults.content.bad_structured_output import violated
from brownout.faults.content.editor import MAX_HELD
from brownout.faults.outcome import Outcome
from faults.content.answers import SCHEMAS
from faults.content.answers import WEATHER
from faults.content.answers import compared
from faults.content.answers import edited
from faults.content.answers import fed_in_pieces
from faults.content.answers import most_held
from faults.content.answers import original_body
from faults.content.answers import output_after
from faults.content.answers import pieces_in
from faults.content.answers import text_slot
from faults.content.answers import usages
from faults.content.answers import view


@pytest.mark.parametrize("name", SCHEMAS)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_not_json(name: str, stream: bool) -> None:
    outcome, before, seen = compared(BadStructuredOutputFault(), name, stream)
    assert outcome == Outcome.BAD_STRUCTURED_OUTPUT
    assert seen.text == CHATTER + before.text and seen.stop == before.stop
    with pytest.raises(json.JSONDecodeError):
        json.loads(seen.text)
    assert seen.output_tokens == output_after(before, seen)


@pytest.mark.parametrize("name", SCHEMAS)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("chunk", [5, 4096])
def test_schema_violation_drops_a_required_key(name: str, stream: bool, chunk: int) -> None:
    before = json.loads(view(name, original_body(name)).text)
    fault = BadStructuredOutputFault(mode="schema_violation")
    outcome, after = edited(fault, name, stream, chunk)
    seen = json.loads(view(name, after).text)
    assert outcome == Outcome.BAD_STRUCTURED_OUTPUT
    assert "city" in before and "city" not in seen and seen["days"] == before["days"]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_a_request_that_asked_no_json_is_untouched(stream: bool) -> None:
    fault = BadStructuredOutputFault()
    outcome, after = edited(fault, "openai_chat", stream)
    assert outcome == Outcome.NOT_APPLIED
    assert view("openai_chat", after).text == view("openai_chat", original_body("openai_chat")).text


def test_violations_without_a_required_key_or_a_schema() -> None:
    optional = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    assert json.loads(violated('{"city": "Paris", "days": 2}', optional) or "") == {"city": 0, "days": 2}
    assert json.loads(violated('{"days": 2}', optional) or "") == {"days": "not a int"}
    assert json.loads(violated('{"city": "Paris"}', None) or "") == [{"city": "Paris"}]
    assert json.loads(violated('{"other": 1}', WEATHER) or "") == [{"other": 1}]
    assert violated("not json", WEATHER) is None and violated("[1]", WEATHER) is None


@pytest.mark.parametrize("name", SCHEMAS)
def test_a_streamed_answer_past_the_cap_goes_out_unedited(name: str) -> None:
    """A JSON answer too long to hold in small deltas: at most MAX_HELD characters wait in the
    proxy, then the text the upstream sent reaches the client with its usage (Gemini's, counting
    the text so far, counts what was held only once it is sent), counted not applied."""
    text = '{"city": "Paris", "days": 2, "notes": "' + "x" * (2 * MAX_HELD) + '"}'
    outcome, stream, sent = fed_in_pieces(BadStructuredOutputFault(mode="schema_violation"), name, text_slot, text)
    assert outcome == Outcome.NOT_APPLIED
    assert most_held(name, text_slot, stream, sent) <= MAX_HELD
    assert "".join(pieces_in(name, text_slot, b"".join(sent))) == text
    assert usages(b"".join(sent))[-1] == usages(b"".join(stream))[-1]


@pytest.mark.parametrize("name", SCHEMAS)
def test_a_streamed_answer_under_the_cap_is_still_broken(name: str) -> None:
    text = '{"city": "Paris", "days": 2, "notes": "' + "x" * (MAX_HELD - 100) + '"}'
    outcome, _, sent = fed_in_pieces(BadStructuredOutputFault(mode="schema_violation"), name, text_slot, text)
    assert outcome == Outcome.BAD_STRUCTURED_OUTPUT
    seen = json.loads("".join(pieces_in(name, text_slot, b"".join(sent))))
    assert "city" not in seen and seen["days"] == 2
