import pytest

from brownout.faults.content.refusal import REFUSAL
from brownout.faults.content.refusal import RefusalFault
from brownout.faults.outcome import Outcome
from faults.content.answers import PLAIN
from faults.content.answers import compared
from faults.content.answers import edit_body
from faults.content.answers import edit_stream
from faults.content.answers import output_after
from faults.content.answers import view

# OpenAI's refusal shape where it has one; elsewhere refusal text and a normal stop.
WITH_FIELD = {"openai_chat", "azure_chat", "responses"}
NORMAL_STOP = {"openai_chat": "stop", "azure_chat": "stop", "responses": "completed"}
NORMAL_STOP |= {"anthropic": "end_turn", "gemini": "STOP"}


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_the_providers_refusal(name: str, stream: bool) -> None:
    outcome, before, seen = compared(RefusalFault(), name, stream)
    assert outcome == Outcome.REFUSED
    if name in WITH_FIELD:
        assert seen.refusal == REFUSAL and seen.text == ""
    else:
        assert seen.text == REFUSAL and seen.refusal is None
    assert seen.stop == NORMAL_STOP[name]
    assert seen.output_tokens == output_after(before, seen)


def test_a_streamed_responses_refusal_uses_the_refusal_events() -> None:
    _, after = edit_stream(RefusalFault(message="No."), "responses")
    events = view("responses", after).events
    assert "response.refusal.delta" in events and "response.refusal.done" in events
    assert "response.output_text.delta" not in events and "response.output_text.done" not in events


def test_a_tool_call_alone_is_not_refused() -> None:
    outcome, _ = edit_body(RefusalFault(), "anthropic_tools")
    assert outcome == Outcome.NOT_APPLIED
