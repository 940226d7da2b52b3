import asyncio
import json
import random

import pytest

from brownout.faults.base import FaultRun
from brownout.faults.content.content_filter import ContentFilterFault
from brownout.faults.outcome import Outcome
from brownout.providers.base import Reply
from brownout.providers.sse import split_tokens
from faults.content.answers import PLAIN
from faults.content.answers import compared
from faults.content.answers import edit_body
from faults.content.answers import info_of
from faults.content.answers import original_body

FILTER_STOP = {"openai_chat": "content_filter", "azure_chat": "content_filter", "responses": "content_filter"}
FILTER_STOP |= {"anthropic": "refusal", "gemini": "SAFETY"}


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_the_filter_stops_the_answer(name: str, stream: bool) -> None:
    outcome, before, seen = compared(ContentFilterFault(after_tokens=3), name, stream)
    assert outcome == Outcome.FILTERED
    assert seen.text == "".join(split_tokens(before.text)[:3])
    assert seen.stop == FILTER_STOP[name]
    if name == "azure_chat":
        assert seen.filter_results is not None
        assert seen.filter_results["violence"] == {"filtered": True, "severity": "medium"}
    if name == "gemini":
        assert {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True} in (
            seen.safety or []
        )


def test_error_mode_answers_azures_error() -> None:
    fault = ContentFilterFault(mode="error")
    run = FaultRun(info=info_of("azure_chat", stream=False), rng=random.Random(0))
    reply = asyncio.run(fault.on_request(run))
    assert isinstance(reply, Reply) and reply.status == 400
    error = json.loads(reply.body)["error"]
    assert error["code"] == "content_filter" and error["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert run.outcome == Outcome.FILTERED


def test_error_mode_elsewhere_is_not_applied() -> None:
    outcome, after = edit_body(ContentFilterFault(mode="error"), "openai_chat")
    assert outcome == Outcome.NOT_APPLIED and after == original_body("openai_chat")
