import pytest

from brownout.faults.content.empty_answer import EmptyAnswerFault
from brownout.faults.outcome import Outcome
from faults.content.answers import PLAIN
from faults.content.answers import compared
from faults.content.answers import edited
from faults.content.answers import original_body
from faults.content.answers import output_after
from faults.content.answers import view


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_the_text_is_empty_and_the_rest_stays(name: str, stream: bool) -> None:
    outcome, before, seen = compared(EmptyAnswerFault(), name, stream)
    assert outcome == Outcome.EMPTIED
    assert seen.text == "" and seen.stop == before.stop and seen.calls == before.calls
    # The usage no longer counts the text that went; the total moves with it.
    assert seen.output_tokens == output_after(before, seen) < before.output_tokens
    if before.total_tokens is not None:
        assert seen.total_tokens == before.total_tokens - before.output_tokens + seen.output_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_an_answer_without_text_is_not_applied(stream: bool) -> None:
    fault = EmptyAnswerFault()
    outcome, after = edited(fault, "openai_chat_tools", stream)
    assert outcome == Outcome.NOT_APPLIED
    assert view("openai_chat_tools", after).calls == view("openai_chat_tools", original_body("openai_chat_tools")).calls
