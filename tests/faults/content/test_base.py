import gzip
import json

from brownout.classify.request import RequestInfo
from brownout.faults.base import Answer
from brownout.faults.content.bad_tool_call import BadToolCallFault
from brownout.faults.content.empty_answer import EmptyAnswerFault
from brownout.faults.content.framing import Untouched
from brownout.faults.content.usage_spike import UsageSpikeFault
from brownout.faults.outcome import Outcome
from faults.content.answers import DATA
from faults.content.answers import armed


def test_only_a_200_is_edited() -> None:
    run = armed(EmptyAnswerFault(), "openai_chat", stream=False)
    raw = (DATA / "openai_chat.json").read_bytes()
    assert EmptyAnswerFault().on_response(run, Answer(500, {}, False, raw, raw)) is None
    assert run.outcome == Outcome.NOT_APPLIED


def test_a_body_that_is_not_a_json_object_is_not_applied() -> None:
    run = armed(EmptyAnswerFault(), "anthropic", stream=False)
    assert EmptyAnswerFault().on_response(run, Answer(200, {}, False, b"[1, 2]", b"[1, 2]")) is None
    assert run.outcome == Outcome.NOT_APPLIED


def test_a_compressed_body_is_encoded_again_with_its_coding() -> None:
    run = armed(EmptyAnswerFault(), "gemini", stream=False)
    plain = (DATA / "gemini.json").read_bytes()
    edited = EmptyAnswerFault().on_response(
        run, Answer(200, {"content-encoding": "gzip"}, False, gzip.compress(plain), plain)
    )
    assert edited is not None and run.outcome == Outcome.EMPTIED
    body = json.loads(gzip.decompress(edited))
    assert body["candidates"][0]["content"]["parts"][0]["text"] == ""


def test_bodies_keep_their_look() -> None:
    # Gemini and OpenAI pretty-print their bodies, Anthropic does not: an edited body looks the same.
    run = armed(UsageSpikeFault(), "gemini", stream=False)
    raw = (DATA / "gemini.json").read_bytes()
    assert (UsageSpikeFault().on_response(run, Answer(200, {}, False, raw, raw)) or b"").startswith(b"{\n  ")
    run = armed(UsageSpikeFault(), "anthropic", stream=False)
    raw = (DATA / "anthropic.json").read_bytes()
    assert b"\n" not in (UsageSpikeFault().on_response(run, Answer(200, {}, False, raw, raw)) or b"\n")


def test_a_streamed_answer_that_is_no_event_stream_is_not_applied() -> None:
    # Gemini's streamGenerateContent without alt=sse: a JSON array relayed as it comes.
    run = armed(EmptyAnswerFault(), "gemini", stream=True)
    assert EmptyAnswerFault().on_response(run, Answer(200, {"content-type": "application/json"}, True)) is None
    assert run.outcome == Outcome.NOT_APPLIED
    run = armed(EmptyAnswerFault(), "gemini", stream=True)
    assert EmptyAnswerFault().on_response(run, Answer(200, {"content-type": "text/event-stream"}, True)) is None
    assert run.outcome == Outcome.ARMED  # the plan's to say


def test_a_run_that_does_not_fit_gets_an_untouched_stream() -> None:
    run = armed(BadToolCallFault(), "openai_chat", stream=True)
    assert run.outcome == Outcome.NOT_APPLIED and isinstance(BadToolCallFault().plan_run(run), Untouched)


def test_endpoints_without_text_are_not_applied() -> None:
    run = armed(EmptyAnswerFault(), "openai_chat", stream=False)
    run.info = RequestInfo(provider="openai", endpoint="embeddings", model="m", stream=False)
    raw = (DATA / "openai_chat.json").read_bytes()
    assert EmptyAnswerFault().on_response(run, Answer(200, {}, False, raw, raw)) is None
    assert run.outcome == Outcome.NOT_APPLIED
