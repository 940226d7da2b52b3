import pytest

from brownout.faults.content.editor import tokens_in
from brownout.faults.content.truncate import TruncateFault
from brownout.faults.outcome import Outcome
from brownout.providers.sse import split_tokens
from faults.content.answers import CAPTURES
from faults.content.answers import PLAIN
from faults.content.answers import compared
from faults.content.answers import edit_body
from faults.content.answers import edit_stream
from faults.content.answers import original_body
from faults.content.answers import output_after
from faults.content.answers import view

# Each provider's length stop, as its SDK reads it (Responses: the incomplete reason).
LENGTH_STOP = {"openai_chat": "length", "azure_chat": "length", "responses": "max_output_tokens"}
LENGTH_STOP |= {"anthropic": "max_tokens", "gemini": "MAX_TOKENS"}


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("chunk", [7, 4096])
def test_cut_at_tokens_with_the_length_stop(name: str, stream: bool, chunk: int) -> None:
    outcome, before, seen = compared(TruncateFault(tokens=5), name, stream, chunk)
    assert outcome == Outcome.TRUNCATED
    assert seen.text == "".join(split_tokens(before.text)[:5]) and before.text.startswith(seen.text)
    assert seen.stop == LENGTH_STOP[name]
    assert seen.output_tokens == output_after(before, seen)
    if stream and name == "responses":
        assert seen.events[-1] == "response.incomplete"


@pytest.mark.parametrize("name", PLAIN)
def test_a_fraction_of_a_body(name: str) -> None:
    before = view(name, original_body(name))
    outcome, after = edit_body(TruncateFault(fraction=0.25), name)
    kept = round(0.25 * tokens_in(before.text))
    assert outcome == Outcome.TRUNCATED
    assert view(name, after).text == "".join(split_tokens(before.text)[:kept])


def test_a_fraction_of_a_stream_is_of_the_requests_output_limit() -> None:
    # The captured request asked for at most 40 tokens: half of that is 20.
    assert CAPTURES["openai_chat"][2]["max_tokens"] == 40
    before = view("openai_chat", original_body("openai_chat"))
    outcome, after = edit_stream(TruncateFault(fraction=0.5), "openai_chat")
    assert outcome == Outcome.TRUNCATED
    assert view("openai_chat", after).text == "".join(split_tokens(before.text)[:20])


def test_a_streamed_fraction_without_an_output_limit_is_not_applied() -> None:
    before = view("responses", original_body("responses"))
    outcome, after = edit_stream(TruncateFault(fraction=0.5), "responses")
    assert outcome == Outcome.NOT_APPLIED
    seen = view("responses", after)
    assert seen.text == before.text and seen.stop == "completed"


def test_a_short_answer_still_ends_at_its_length_limit() -> None:
    outcome, after = edit_body(TruncateFault(tokens=10_000), "anthropic")
    seen = view("anthropic", after)
    assert outcome == Outcome.TRUNCATED
    assert seen.text == view("anthropic", original_body("anthropic")).text and seen.stop == "max_tokens"


def test_zero_tokens_keeps_none() -> None:
    outcome, after = edit_stream(TruncateFault(tokens=0), "gemini")
    assert outcome == Outcome.TRUNCATED and view("gemini", after).text == ""
