import json

import pytest

from brownout.faults.content.bad_structured_output import CHATTER
from brownout.faults.content.bad_structured_output import BadStructuredOutputFault
from brownout.faults.content.bad_structured_output import violated
from brownout.faults.outcome import Outcome
from faults.content.answers import SCHEMAS
from faults.content.answers import WEATHER
from faults.content.answers import compared
from faults.content.answers import edited
from faults.content.answers import original_body
from faults.content.answers import output_after
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
